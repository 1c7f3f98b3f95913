// GQA's `semantic` programs: each step's operation and argument parsed into a typed form
// (select, relate name,rel,s|o, filter/verify/choose with an attribute type, not(...), verify/choose rel,
// query, exist, and, or, same/different with and without attribute, common, comparative choose).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vqa {

enum class GqaOp {
  Select, Relate, Filter, Verify, VerifyRel, Choose, ChooseRel, Compare, Query, Exist, And, Or, Same, Different,
  Common
};
const std::string& gqaOpName(GqaOp op);

struct GqaStep {
  GqaOp op = GqaOp::Select;
  std::string operation, argument;  // as written in the file
  std::vector<int> dependencies;
  std::string attribute;            // "color" in "filter color"; "healthier" in a comparative choose
  std::string name;                 // select / relate / verify rel / choose rel: object name ("_" = any)
  std::vector<std::string> values;  // filter/verify: the value; choose: the options
  bool negated = false;             // filter/verify "not(value)"
  std::vector<std::string> relations;  // relate / verify rel: one; choose rel: the options
  bool subject = false;             // relate: 's' means the new object is the subject of the relation
  std::vector<std::string> object_ids;  // grounding "(id1,id2)"; empty with `absent` for "(-)"
  bool absent = false;
};

struct GqaProgram {
  std::vector<GqaStep> steps;
  std::vector<int> order;  // execution order (topological); normally 0..n-1
};

// Parses one step; throws std::runtime_error naming the problem.
GqaStep parseGqaStep(const std::string& operation, const std::string& argument, const std::vector<int>& deps);
// Parses a `semantic` list; throws std::runtime_error("step K: problem") on malformed steps, wrong arity,
// out-of-range dependencies or a dependency cycle.
GqaProgram parseGqaProgram(const nlohmann::json& semantic);

}  // namespace vqa
