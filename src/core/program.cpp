// CLEVR's function signatures (as in CLEVR's metadata.json) and the Program IR's parse/print/validate.
#include "core/program.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/topological_sort.hpp>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/vocab.h"

namespace vqa {
namespace {

using T = ValueType;

std::runtime_error stepError(int step, const std::string& problem) {
  return std::runtime_error("step " + std::to_string(step) + ": " + problem);
}

const std::vector<std::string>* valuesOfType(ValueType t) {
  switch (t) {
    case T::Color: return &clevr::colors();
    case T::Shape: return &clevr::shapes();
    case T::Material: return &clevr::materials();
    case T::Size: return &clevr::sizes();
    case T::Relation: return &clevr::relations();
    default: return nullptr;
  }
}

std::vector<std::string> stringList(const nlohmann::json& j, int step, const char* key) {
  if (!j.is_array()) throw stepError(step, std::string("'") + key + "' is not a list");
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string()) throw stepError(step, std::string("'") + key + "' holds a non-string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

std::optional<int> jsonIntIfFits(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<unsigned long long>();
    if (u > static_cast<unsigned long long>(INT_MAX)) return std::nullopt;
    return static_cast<int>(u);
  }
  if (value.is_number_integer()) {
    const auto v = value.get<long long>();
    if (v < INT_MIN || v > INT_MAX) return std::nullopt;
    return static_cast<int>(v);
  }
  return std::nullopt;
}

std::string describeJson(const nlohmann::json& value) {
  if (value.is_number() || value.is_boolean()) return excerpt(value.dump());
  const std::string kind = value.type_name();
  return (kind == "array" || kind == "object" ? "an " : "a ") + kind;
}

int jsonInt(const nlohmann::json& value, const std::string& field, long long min, long long max) {
  const std::string name = quotedValue(field);
  if (!value.is_number_integer()) throw std::runtime_error(name + " is not an integer (" + describeJson(value) + ")");
  const std::optional<int> v = jsonIntIfFits(value);
  if (!v || *v < min || *v > max)
    throw std::runtime_error(name + " is " + value.dump() + ", out of range (" + std::to_string(min) + " to " +
                             std::to_string(max) + ")");
  return *v;
}

const std::string& typeName(ValueType t) {
  static const std::string names[] = {"ObjectSet", "Object", "Integer", "Bool", "Color",
                                      "Shape",     "Material", "Size",  "Relation"};
  return names[static_cast<int>(t)];
}

bool parseValueType(const std::string& name, ValueType* out) {
  for (int i = 0; i <= static_cast<int>(T::Relation); ++i) {
    if (typeName(static_cast<T>(i)) == name) {
      *out = static_cast<T>(i);
      return true;
    }
  }
  return false;
}

const std::vector<FunctionSignature>& clevrFunctions() {
  static const std::vector<FunctionSignature> fns = [] {
    std::vector<FunctionSignature> f{
        {"scene", {}, {}, T::ObjectSet},
        {"unique", {T::ObjectSet}, {}, T::Object},
        {"relate", {T::Object}, {T::Relation}, T::ObjectSet},
        {"union", {T::ObjectSet, T::ObjectSet}, {}, T::ObjectSet},
        {"intersect", {T::ObjectSet, T::ObjectSet}, {}, T::ObjectSet},
        {"count", {T::ObjectSet}, {}, T::Integer, true},
        {"exist", {T::ObjectSet}, {}, T::Bool, true},
        {"equal_integer", {T::Integer, T::Integer}, {}, T::Bool, true},
        {"less_than", {T::Integer, T::Integer}, {}, T::Bool, true},
        {"greater_than", {T::Integer, T::Integer}, {}, T::Bool, true},
        {"equal_object", {T::Object, T::Object}, {}, T::Bool, true},
    };
    const T attrTypes[] = {T::Color, T::Shape, T::Material, T::Size};
    for (clevr::Attribute a : clevr::attributes()) {
      const std::string& n = clevr::attributeName(a);
      const T at = attrTypes[static_cast<int>(a)];
      f.push_back({"filter_" + n, {T::ObjectSet}, {at}, T::ObjectSet});
      f.push_back({"query_" + n, {T::Object}, {}, at, true});
      f.push_back({"equal_" + n, {at, at}, {}, T::Bool, true});
      f.push_back({"same_" + n, {T::Object}, {}, T::ObjectSet});
    }
    // Template-only functions; side inputs in template order Size, Color, Material, Shape.
    const std::vector<T> filterSides{T::Size, T::Color, T::Material, T::Shape};
    std::vector<T> relateSides{T::Relation};
    relateSides.insert(relateSides.end(), filterSides.begin(), filterSides.end());
    f.push_back({"filter", {T::ObjectSet}, filterSides, T::ObjectSet, false, true});
    f.push_back({"filter_unique", {T::ObjectSet}, filterSides, T::Object, false, true});
    f.push_back({"filter_count", {T::ObjectSet}, filterSides, T::Integer, true, true});
    f.push_back({"filter_exist", {T::ObjectSet}, filterSides, T::Bool, true, true});
    f.push_back({"relate_filter", {T::Object}, relateSides, T::ObjectSet, false, true});
    f.push_back({"relate_filter_unique", {T::Object}, relateSides, T::Object, false, true});
    f.push_back({"relate_filter_count", {T::Object}, relateSides, T::Integer, true, true});
    f.push_back({"relate_filter_exist", {T::Object}, relateSides, T::Bool, true, true});
    return f;
  }();
  return fns;
}

const FunctionSignature* findFunction(const std::string& name) {
  for (const auto& f : clevrFunctions())
    if (f.name == name) return &f;
  return nullptr;
}

Program parseProgram(const nlohmann::json& steps) {
  if (!steps.is_array()) throw std::runtime_error("program is not a list of steps");
  Program program;
  int step = 0;
  for (const auto& s : steps) {
    if (!s.is_object()) throw stepError(step, "step is not an object");
    ProgramNode node;
    const char* fnKey = s.contains("function") ? "function" : "type";
    if (!s.contains(fnKey)) throw stepError(step, "missing 'function' (or 'type')");
    if (!s[fnKey].is_string()) throw stepError(step, std::string("'") + fnKey + "' is not a string");
    node.function = s[fnKey].get<std::string>();
    if (!s.contains("inputs")) throw stepError(step, "missing 'inputs'");
    if (!s["inputs"].is_array()) throw stepError(step, "'inputs' is not a list");
    for (const auto& i : s["inputs"]) {
      try {
        node.inputs.push_back(jsonInt(i, "inputs"));
      } catch (const std::exception& e) {
        throw stepError(step, e.what());
      }
    }
    if (s.contains("value_inputs")) node.value_inputs = stringList(s["value_inputs"], step, "value_inputs");
    else if (s.contains("side_inputs")) node.value_inputs = stringList(s["side_inputs"], step, "side_inputs");
    program.nodes.push_back(std::move(node));
    ++step;
  }
  return program;
}

nlohmann::json programToJson(const Program& program, ProgramSpelling spelling) {
  const bool released = spelling == ProgramSpelling::Released;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& n : program.nodes) {
    nlohmann::json s;
    s["inputs"] = n.inputs;
    s[released ? "function" : "type"] = n.function;
    if (released || !n.value_inputs.empty()) s[released ? "value_inputs" : "side_inputs"] = n.value_inputs;
    out.push_back(std::move(s));
  }
  return out;
}

void validateProgram(const Program& program) {
  if (program.nodes.empty()) throw std::runtime_error("empty program");
  std::vector<ValueType> outputs;
  for (int i = 0; i < program.size(); ++i) {
    const ProgramNode& n = program.nodes[i];
    const FunctionSignature* sig = findFunction(n.function);
    if (!sig) throw stepError(i, "unknown function " + quotedValue(n.function));
    if (sig->template_only) throw stepError(i, "'" + n.function + "' is a template-only function");
    if (n.inputs.size() != sig->inputs.size())
      throw stepError(i, "'" + n.function + "' takes " + std::to_string(sig->inputs.size()) + " inputs, got " +
                             std::to_string(n.inputs.size()));
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int in = n.inputs[k];
      if (in < 0 || in >= program.size())
        throw stepError(i, "input " + std::to_string(in) + " is out of range (program has " +
                               std::to_string(program.size()) + " steps)");
      if (in >= i) throw stepError(i, "input " + std::to_string(in) + " points forward (inputs must be earlier steps)");
      if (outputs[in] != sig->inputs[k])
        throw stepError(i, "'" + n.function + "' input " + std::to_string(k) + " must be " +
                               typeName(sig->inputs[k]) + ", step " + std::to_string(in) + " gives " +
                               typeName(outputs[in]));
    }
    if (n.value_inputs.size() != sig->side_inputs.size())
      throw stepError(i, "'" + n.function + "' takes " + std::to_string(sig->side_inputs.size()) +
                             " value inputs, got " + std::to_string(n.value_inputs.size()));
    for (size_t k = 0; k < n.value_inputs.size(); ++k) {
      const auto* values = valuesOfType(sig->side_inputs[k]);
      if (values && std::find(values->begin(), values->end(), n.value_inputs[k]) == values->end())
        throw stepError(i, quotedValue(n.value_inputs[k]) + " is not a " + typeName(sig->side_inputs[k]));
    }
    outputs.push_back(sig->output);
  }
  // A question's program ends in the step that gives its answer.
  const ProgramNode& last = program.nodes.back();
  if (!findFunction(last.function)->terminal)
    throw stepError(program.size() - 1, "the last step '" + last.function + "' gives " + typeName(outputs.back()) +
                                            ", not an answer (a program ends with exist, count, query_*, equal_*, "
                                            "less_than, greater_than or equal_object)");
}

ValueType outputType(const Program& program) {
  const FunctionSignature* sig = findFunction(program.nodes.back().function);
  if (!sig) throw std::runtime_error("unknown function " + quotedValue(program.nodes.back().function));
  return sig->output;
}

std::vector<int> topologicalOrder(const std::vector<std::vector<int>>& deps) {
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  const int n = static_cast<int>(deps.size());
  Graph g(n);
  for (int i = 0; i < n; ++i) {
    for (int d : deps[i]) {
      if (d < 0 || d >= n)
        throw stepError(i, "dependency " + std::to_string(d) + " is out of range (" + std::to_string(n) + " steps)");
      boost::add_edge(d, i, g);
    }
  }
  std::vector<Graph::vertex_descriptor> reversed;
  try {
    boost::topological_sort(g, std::back_inserter(reversed));
  } catch (const boost::not_a_dag&) {
    throw std::runtime_error("dependencies form a cycle");
  }
  return std::vector<int>(reversed.rbegin(), reversed.rend());
}

std::string programToString(const Program& program) {
  std::string out;
  for (int i = 0; i < program.size(); ++i) {
    const ProgramNode& n = program.nodes[i];
    if (i) out += "; ";
    out += n.function;
    if (!n.value_inputs.empty()) {
      out += "[";
      for (size_t k = 0; k < n.value_inputs.size(); ++k) out += (k ? "," : "") + n.value_inputs[k];
      out += "]";
    }
    if (!n.inputs.empty()) {
      out += "(";
      for (size_t k = 0; k < n.inputs.size(); ++k) out += (k ? "," : "") + std::to_string(n.inputs[k]);
      out += ")";
    }
  }
  return out;
}

}  // namespace vqa
