// The CLEVR symbolic executor: CLEVR's question-engine semantics, step by step, over the typed program form.
#include <algorithm>
#include <array>
#include <stdexcept>

#include "core/vocab.h"
#include "executor/step_runner.h"

namespace vqa {
namespace {

// A scene read into indices once per run: each object's value index per attribute (-1 when the record has
// none) and, when the program relates, the objects in each relation to each object. A word outside CLEVR's
// vocabulary (possible in scenes built in code; the readers refuse them) gets an index past the vocabulary,
// one per distinct word, so equality and query answers are those of the words themselves.
struct IndexedScene {
  std::vector<std::array<int, clevr::kNumAttributes>> values;
  std::array<std::vector<std::string>, clevr::kNumAttributes> other_words;
  std::vector<std::vector<std::vector<int>>> related;  // [relation][object] -> sorted subjects

  IndexedScene(const SceneGraph& s, bool needs_relations) {
    values.resize(static_cast<size_t>(s.size()));
    for (int i = 0; i < s.size(); ++i) {
      const auto& attrs = s.object(i).attributes;
      for (clevr::Attribute a : clevr::attributes()) {
        auto it = attrs.find(clevr::attributeName(a));
        int v = it == attrs.end() ? -1 : clevr::valueIndex(a, it->second);
        if (it != attrs.end() && v < 0) {
          auto& words = other_words[static_cast<size_t>(a)];
          auto known = std::find(words.begin(), words.end(), it->second);
          if (known == words.end()) known = words.insert(words.end(), it->second);
          v = static_cast<int>(clevr::attributeValues(a).size() + static_cast<size_t>(known - words.begin()));
        }
        values[static_cast<size_t>(i)][static_cast<size_t>(a)] = v;
      }
    }
    if (!needs_relations) return;
    const auto& names = clevr::relations();
    related.resize(names.size());
    for (size_t r = 0; r < names.size(); ++r)
      for (int i = 0; i < s.size(); ++i) related[r].push_back(s.subjectsOf(i, names[r]));
  }

  int size() const { return static_cast<int>(values.size()); }

  int value(int object, clevr::Attribute a) const {
    const int v = values.at(static_cast<size_t>(object))[static_cast<size_t>(a)];
    if (v < 0) throw std::runtime_error("object " + std::to_string(object) + " has no " + clevr::attributeName(a));
    return v;
  }

  const std::string& word(int object, clevr::Attribute a) const {
    const auto v = static_cast<size_t>(value(object, a));
    const auto& vocabulary = clevr::attributeValues(a);
    return v < vocabulary.size() ? vocabulary[v] : other_words[static_cast<size_t>(a)][v - vocabulary.size()];
  }
};

const Value& expect(const Value& v, Value::Kind kind, const char* what) {
  if (v.kind != kind) throw std::runtime_error(std::string("input is not ") + what);
  return v;
}

Value step(const TypedNode& n, const std::vector<Value>& in, const IndexedScene& scene) {
  auto set = [&](size_t k) -> const std::vector<int>& {
    return expect(in.at(k), Value::Kind::ObjectSet, "an object set").objects;
  };
  auto obj = [&](size_t k) { return expect(in.at(k), Value::Kind::Object, "an object").objects.front(); };
  auto integer = [&](size_t k) { return expect(in.at(k), Value::Kind::Integer, "an integer").integer; };

  switch (n.op) {
    case Op::Scene: {
      std::vector<int> all(static_cast<size_t>(scene.size()));
      for (int i = 0; i < scene.size(); ++i) all[static_cast<size_t>(i)] = i;
      return Value::set(all);
    }
    case Op::Filter: {
      std::vector<int> out;
      for (int o : set(0))
        if (scene.value(o, n.attribute) == n.value) out.push_back(o);
      return Value::set(out);
    }
    case Op::Unique: {
      const auto& s = set(0);
      if (s.size() != 1) throw std::runtime_error("unique needs exactly 1 object, got " + std::to_string(s.size()));
      return Value::object(s.front());
    }
    case Op::Relate: {
      const int o = obj(0);
      if (n.relation < 0) return Value::set({});
      return Value::set(scene.related.at(static_cast<size_t>(n.relation)).at(static_cast<size_t>(o)));
    }
    case Op::Union:
    case Op::Intersect: {
      const auto &a = set(0), &b = set(1);
      std::vector<int> out;
      if (n.op == Op::Union)
        std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
      else
        std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
      return Value::set(out);
    }
    case Op::Count:
      return Value::integerValue(static_cast<int>(set(0).size()));
    case Op::Exist:
      return Value::boolValue(!set(0).empty());
    case Op::Query: {
      const int o = obj(0);
      return Value::wordValue(scene.word(o, n.attribute));
    }
    case Op::Same: {
      const int o = obj(0);
      std::vector<int> out;
      for (int j = 0; j < scene.size(); ++j)
        if (j != o && scene.value(j, n.attribute) == scene.value(o, n.attribute)) out.push_back(j);
      return Value::set(out);
    }
    case Op::EqualInteger:
      return Value::boolValue(integer(0) == integer(1));
    case Op::LessThan:
      return Value::boolValue(integer(0) < integer(1));
    case Op::GreaterThan:
      return Value::boolValue(integer(0) > integer(1));
    case Op::EqualObject:
      return Value::boolValue(obj(0) == obj(1));
    case Op::EqualAttribute: {
      const Value &a = expect(in.at(0), Value::Kind::Word, "a value"),
                  &b = expect(in.at(1), Value::Kind::Word, "a value");
      return Value::boolValue(a.word == b.word);
    }
    case Op::NoOp:
      throw std::runtime_error("'" + n.function + "' is not a program step");
    case Op::Invalid:
      break;
  }
  throw std::runtime_error(n.error.empty() ? "unresolved step" : n.error);
}

}  // namespace

ExecutionResult ClevrExecutor::run(const Program& program, const SceneGraph& scene) const {
  return run(resolveProgram(program), scene);
}

ExecutionResult ClevrExecutor::run(const TypedProgram& program, const SceneGraph& scene) const {
  std::vector<int> order(program.nodes.size());
  std::vector<StepView> steps;
  bool relates = false;
  for (int i = 0; i < program.size(); ++i) {
    order[static_cast<size_t>(i)] = i;
    const TypedNode& n = program.nodes[static_cast<size_t>(i)];
    steps.push_back({&n.inputs, &n.function});
    relates = relates || n.op == Op::Relate;
  }
  const IndexedScene indexed(scene, relates);
  return runSteps(order, steps, [&](int i, const std::vector<Value>& in) {
    return step(program.nodes[static_cast<size_t>(i)], in, indexed);
  });
}

}  // namespace vqa
