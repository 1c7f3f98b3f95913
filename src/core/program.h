// Program IR for CLEVR's functional programs: nodes with a function, input indices and value inputs;
// parsing/printing in both CLEVR spellings, validation (arity, types, input order) and topological order.
#pragma once
#include <climits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vqa {

// Every JSON number that becomes an int goes through one of these, so that no value wraps around.
// jsonInt: an integer in [min, max], else std::runtime_error("'FIELD' is 4294967297, out of range (0 to 9)")
// or "'FIELD' is not an integer (...)". jsonIntIfFits: the value when it is an integer that fits an int.
int jsonInt(const nlohmann::json& value, const std::string& field, long long min = INT_MIN, long long max = INT_MAX);
std::optional<int> jsonIntIfFits(const nlohmann::json& value);
// A JSON value as an error message shows it: numbers and booleans as written (cut short), else "a string",
// "an array", "an object", "a null".
std::string describeJson(const nlohmann::json& value);

enum class ValueType { ObjectSet, Object, Integer, Bool, Color, Shape, Material, Size, Relation };
const std::string& typeName(ValueType t);
bool parseValueType(const std::string& name, ValueType* out);  // metadata.json spelling: "ObjectSet", "Color"...

struct FunctionSignature {
  std::string name;
  std::vector<ValueType> inputs;       // types of the outputs of earlier nodes
  std::vector<ValueType> side_inputs;  // types of literal value inputs
  ValueType output;
  bool terminal = false;
  bool template_only = false;  // filter_unique, relate_filter_count, ...: only in template files
};
const std::vector<FunctionSignature>& clevrFunctions();
const FunctionSignature* findFunction(const std::string& name);  // nullptr when unknown

struct ProgramNode {
  std::string function;
  std::vector<int> inputs;
  std::vector<std::string> value_inputs;
};

struct Program {
  std::vector<ProgramNode> nodes;
  int size() const { return static_cast<int>(nodes.size()); }
};

// Released CLEVR: {"function", "inputs", "value_inputs"}; generator output: {"type", "inputs", "side_inputs"}.
enum class ProgramSpelling { Released, Generator };

// Parses a JSON list of steps in either spelling; extra keys (e.g. CLOSURE's "_output") are ignored.
// Throws std::runtime_error("step K: problem") on malformed steps. Does not validate semantics.
Program parseProgram(const nlohmann::json& steps);
nlohmann::json programToJson(const Program& program, ProgramSpelling spelling = ProgramSpelling::Released);

// Checks functions, arity, input order (each input points to an earlier step), input types and value
// vocabularies. Throws std::runtime_error("step K: problem").
void validateProgram(const Program& program);
ValueType outputType(const Program& program);  // of the last node; the program must be valid

// Topological order of a dependency graph (deps[i] = steps that step i reads) with Boost.Graph.
// Throws std::runtime_error on an out-of-range dependency or a cycle.
std::vector<int> topologicalOrder(const std::vector<std::vector<int>>& deps);

// One line per program, e.g. "scene; filter_size[large](0); unique(1); query_color(2)".
std::string programToString(const Program& program);

}  // namespace vqa
