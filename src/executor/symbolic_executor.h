// SymbolicExecutor: exact execution of CLEVR programs (CLEVR's own question-engine semantics) and GQA
// `semantic` programs over scene graphs, keeping every step's output (for tests and explanations).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/gqa_program.h"
#include "core/program.h"
#include "core/scene_graph.h"
#include "core/typed_program.h"
#include "executor/value.h"

namespace vqa {

struct ExecutionResult {
  bool ok = false;
  std::string answer;          // the last step's answer string when ok
  std::vector<Value> outputs;  // one per step; steps after a failure are left default
  int failed_step = -1;
  std::string error;           // why the program could not run (e.g. "step 3: unique needs exactly 1 object, got 2")
};

// CLEVR semantics: `unique` is valid only on a set of exactly one object, `same_*` leaves the object itself
// out, `relate` reads the scene's relationships (edges), answers are CLEVR's strings. Runs the typed form:
// the string form is resolved once (resolveProgram) and the scene's attributes and relations are read into
// indices once per run, so no step compares strings.
class ClevrExecutor {
 public:
  ExecutionResult run(const Program& program, const SceneGraph& scene) const;
  ExecutionResult run(const TypedProgram& program, const SceneGraph& scene) const;
};

// Which GQA attribute values belong to which attribute type ("white" -> color), for `query color` and
// `common`. Built from the typed operations (filter color: white, choose material: a|b, ...) of a question set.
class GqaLexicon {
 public:
  void add(const std::string& type, const std::string& value);
  void addFromProgram(const GqaProgram& program);
  const std::set<std::string>* valuesOf(const std::string& type) const;
  bool has(const std::string& type, const std::string& value) const;
  const std::map<std::string, std::set<std::string>>& types() const { return values_; }  // type -> values

 private:
  std::map<std::string, std::set<std::string>> values_;
};

// GQA's comparatives ("older", "less healthy", ...) -> the attribute an object has when it is "more so", and
// its opposite; both GQA executors read this one table.
const std::map<std::string, std::pair<std::string, std::string>>& gqaComparatives();

// GQA semantics over a GQA scene graph. Grounded ids in arguments ("wall (722332)") resolve names that
// differ from the scene graph's (e.g. "person" for a "man"); "(-)" means the object is absent.
class GqaExecutor {
 public:
  explicit GqaExecutor(const GqaLexicon* lexicon = nullptr) : lexicon_(lexicon) {}
  ExecutionResult run(const GqaProgram& program, const SceneGraph& scene) const;

 private:
  const GqaLexicon* lexicon_;
};

}  // namespace vqa
