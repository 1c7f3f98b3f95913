// Program IR for CLEVR's functional programs: nodes with a function, input indices and value inputs;
// parsing/printing in both CLEVR spellings, validation (arity, types, input order) and topological order.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vqa {

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
