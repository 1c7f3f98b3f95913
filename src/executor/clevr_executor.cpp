// The CLEVR symbolic executor: CLEVR's question-engine semantics, step by step.
#include <algorithm>
#include <stdexcept>

#include "core/vocab.h"
#include "executor/step_runner.h"

namespace vqa {
namespace {

const std::string& attr(const SceneGraph& scene, int object, const std::string& name) {
  const auto& attrs = scene.object(object).attributes;
  auto it = attrs.find(name);
  if (it == attrs.end()) throw std::runtime_error("object " + std::to_string(object) + " has no " + name);
  return it->second;
}

// "filter_color" -> "color" for the given prefix, or "" when the function does not start with it.
std::string suffixAfter(const std::string& fn, const std::string& prefix) {
  return fn.compare(0, prefix.size(), prefix) == 0 ? fn.substr(prefix.size()) : std::string();
}

const Value& expect(const Value& v, Value::Kind kind, const char* what) {
  if (v.kind != kind) throw std::runtime_error(std::string("input is not ") + what);
  return v;
}

Value step(const ProgramNode& n, const std::vector<Value>& in, const SceneGraph& scene) {
  const std::string& fn = n.function;
  auto set = [&](size_t k) -> const std::vector<int>& { return expect(in.at(k), Value::Kind::ObjectSet, "an object set").objects; };
  auto obj = [&](size_t k) { return expect(in.at(k), Value::Kind::Object, "an object").objects.front(); };
  auto integer = [&](size_t k) { return expect(in.at(k), Value::Kind::Integer, "an integer").integer; };

  if (fn == "scene") {
    std::vector<int> all(scene.size());
    for (int i = 0; i < scene.size(); ++i) all[i] = i;
    return Value::set(all);
  }
  if (std::string a = suffixAfter(fn, "filter_"); !a.empty()) {
    std::vector<int> out;
    for (int o : set(0))
      if (attr(scene, o, a) == n.value_inputs.at(0)) out.push_back(o);
    return Value::set(out);
  }
  if (fn == "unique") {
    const auto& s = set(0);
    if (s.size() != 1) throw std::runtime_error("unique needs exactly 1 object, got " + std::to_string(s.size()));
    return Value::object(s.front());
  }
  if (fn == "relate") return Value::set(scene.subjectsOf(obj(0), n.value_inputs.at(0)));
  if (fn == "union" || fn == "intersect") {
    const auto &a = set(0), &b = set(1);
    std::vector<int> out;
    if (fn == "union") std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    else std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return Value::set(out);
  }
  if (fn == "count") return Value::integerValue(static_cast<int>(set(0).size()));
  if (fn == "exist") return Value::boolValue(!set(0).empty());
  if (std::string a = suffixAfter(fn, "query_"); !a.empty()) return Value::wordValue(attr(scene, obj(0), a));
  if (std::string a = suffixAfter(fn, "same_"); !a.empty()) {
    const int o = obj(0);
    std::vector<int> out;
    for (int j = 0; j < scene.size(); ++j)
      if (j != o && attr(scene, j, a) == attr(scene, o, a)) out.push_back(j);
    return Value::set(out);
  }
  if (fn == "equal_integer") return Value::boolValue(integer(0) == integer(1));
  if (fn == "less_than") return Value::boolValue(integer(0) < integer(1));
  if (fn == "greater_than") return Value::boolValue(integer(0) > integer(1));
  if (fn == "equal_object") return Value::boolValue(obj(0) == obj(1));
  if (!suffixAfter(fn, "equal_").empty()) {
    const Value &a = expect(in.at(0), Value::Kind::Word, "a value"), &b = expect(in.at(1), Value::Kind::Word, "a value");
    return Value::boolValue(a.word == b.word);
  }
  throw std::runtime_error("unknown function '" + fn + "'");
}

}  // namespace

ExecutionResult ClevrExecutor::run(const Program& program, const SceneGraph& scene) const {
  std::vector<int> order(program.nodes.size());
  std::vector<StepView> steps;
  for (int i = 0; i < program.size(); ++i) {
    order[i] = i;
    steps.push_back({&program.nodes[i].inputs, &program.nodes[i].function});
  }
  return runSteps(order, steps, [&](int i, const std::vector<Value>& in) { return step(program.nodes[i], in, scene); });
}

}  // namespace vqa
