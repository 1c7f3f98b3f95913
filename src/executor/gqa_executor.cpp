// The GQA symbolic executor over GQA scene graphs.
#include <algorithm>
#include <stdexcept>

#include "executor/step_runner.h"

namespace vqa {
namespace {

// Positions GQA derives from the bounding box: thirds of the image.
std::string hposition(const SceneGraph& scene, const SceneObject& o) {
  if (scene.width <= 0) return "";
  const double cx = o.box[0] + o.box[2] / 2.0;
  return cx < scene.width / 3.0 ? "left" : cx > 2.0 * scene.width / 3.0 ? "right" : "middle";
}
std::string vposition(const SceneGraph& scene, const SceneObject& o) {
  if (scene.height <= 0) return "";
  const double cy = o.box[1] + o.box[3] / 2.0;
  return cy < scene.height / 3.0 ? "top" : cy > 2.0 * scene.height / 3.0 ? "bottom" : "middle";
}

class Run {
 public:
  Run(const SceneGraph& scene, const GqaLexicon* lexicon) : scene_(scene), lexicon_(lexicon) {}

  bool hasValue(int o, const std::string& type, const std::string& value) const {
    const SceneObject& obj = scene_.object(o);
    if (type == "hposition") return hposition(scene_, obj) == value;
    if (type == "vposition") return vposition(scene_, obj) == value;
    if (obj.name == value) return true;
    if (std::find(obj.labels.begin(), obj.labels.end(), value) != obj.labels.end()) return true;
    for (const auto& [k, v] : obj.attributes)
      if (v == value) return true;
    return false;
  }

  // The object's value of an attribute type, or "" when it has none.
  std::string valueOf(int o, const std::string& type) const {
    const SceneObject& obj = scene_.object(o);
    if (type == "name") return obj.name;
    if (type == "hposition") return hposition(scene_, obj);
    if (type == "vposition") return vposition(scene_, obj);
    auto typed = obj.attributes.find(type);
    if (typed != obj.attributes.end()) return typed->second;
    if (lexicon_)
      for (const auto& l : obj.labels)
        if (lexicon_->has(type, l)) return l;
    return "";
  }

  bool nameMatches(int o, const GqaStep& s) const {
    if (s.name == "_") return true;
    const SceneObject& obj = scene_.object(o);
    return obj.name == s.name ||
           std::find(s.object_ids.begin(), s.object_ids.end(), obj.id) != s.object_ids.end();
  }

  std::vector<int> related(const std::vector<int>& from, const GqaStep& s, const std::string& rel) const {
    std::vector<int> out;
    for (int x : from) {
      for (int y : s.subject ? scene_.subjectsOf(x, rel) : scene_.objectsOf(x, rel))
        if (nameMatches(y, s)) out.push_back(y);
    }
    return out;
  }

  std::vector<int> select(const GqaStep& s) const {
    std::vector<int> out;
    if (s.absent) return out;
    const bool global = s.name == "scene";
    for (const auto& id : s.object_ids)
      if (int o = scene_.findObject(id); o >= 0) out.push_back(o);
    if (!out.empty()) return out;
    for (int o = 0; o < scene_.size(); ++o)
      if (global || scene_.object(o).name == s.name) out.push_back(o);
    return out;
  }

  static int single(const Value& v, const char* op) {
    if (v.kind != Value::Kind::ObjectSet) throw std::runtime_error(std::string(op) + " needs objects");
    if (v.objects.empty()) throw std::runtime_error(std::string(op) + " on an empty selection");
    return v.objects.front();
  }
  static bool boolOf(const Value& v) {
    if (v.kind != Value::Kind::Bool) throw std::runtime_error("input is not yes/no");
    return v.boolean;
  }
  static const std::vector<int>& objects(const Value& v) {
    if (v.kind != Value::Kind::ObjectSet) throw std::runtime_error("input is not a selection of objects");
    return v.objects;
  }

  // Do all objects share one value of `type`? (objects without a value make it "no")
  bool allSame(const std::vector<int>& objs, const std::string& type) const {
    if (objs.empty()) throw std::runtime_error("same/different on an empty selection");
    const std::string first = valueOf(objs.front(), type);
    if (first.empty()) throw std::runtime_error("object has no " + type);
    for (int o : objs)
      if (valueOf(o, type) != first) return false;
    return true;
  }

  Value step(const GqaStep& s, const std::vector<Value>& in) const {
    switch (s.op) {
      case GqaOp::Select: return Value::set(select(s));
      case GqaOp::Relate: return Value::set(related(objects(in[0]), s, s.relations.front()));
      case GqaOp::Filter: {
        std::vector<int> out;
        for (int o : objects(in[0]))
          if (hasValue(o, s.attribute, s.values.front()) != s.negated) out.push_back(o);
        return Value::set(out);
      }
      case GqaOp::Verify: {
        const int o = single(in[0], "verify");
        return Value::boolValue(hasValue(o, s.attribute, s.values.front()) != s.negated);
      }
      case GqaOp::VerifyRel:
        return Value::boolValue(!related(objects(in[0]), s, s.relations.front()).empty());
      case GqaOp::Choose: {
        const int o = single(in[0], "choose");
        for (const auto& v : s.values)
          if (hasValue(o, s.attribute, v)) return Value::wordValue(v);
        throw std::runtime_error("the object has none of '" + s.argument + "'");
      }
      case GqaOp::ChooseRel: {
        for (const auto& rel : s.relations)
          if (!related(objects(in[0]), s, rel).empty()) return Value::wordValue(rel);
        throw std::runtime_error("none of the relations '" + s.argument + "' holds");
      }
      case GqaOp::Compare: {
        const int a = single(in[0], "compare"), b = single(in[1], "compare");
        auto c = gqaComparatives().find(s.attribute);
        if (c == gqaComparatives().end()) throw std::runtime_error("unknown comparative '" + s.attribute + "'");
        const auto& [more, less] = c->second;
        const bool aMore = hasValue(a, "", more) || hasValue(b, "", less);
        const bool bMore = hasValue(b, "", more) || hasValue(a, "", less);
        if (aMore == bMore) throw std::runtime_error("the scene graph cannot tell which is " + s.attribute);
        return Value::wordValue(scene_.object(aMore ? a : b).name);
      }
      case GqaOp::Query: {
        auto image = scene_.image_attributes.find(s.attribute);
        if (image != scene_.image_attributes.end()) return Value::wordValue(image->second);
        const int o = single(in[0], "query");
        const std::string v = valueOf(o, s.attribute);
        if (v.empty()) throw std::runtime_error("object " + scene_.object(o).id + " has no " + s.attribute);
        return Value::wordValue(v);
      }
      case GqaOp::Exist: return Value::boolValue(!objects(in[0]).empty());
      case GqaOp::And: return Value::boolValue(boolOf(in[0]) && boolOf(in[1]));
      case GqaOp::Or: return Value::boolValue(boolOf(in[0]) || boolOf(in[1]));
      case GqaOp::Same:
      case GqaOp::Different: {
        std::vector<int> objs = objects(in[0]);
        if (in.size() == 2) {
          objs = {single(in[0], "same"), single(in[1], "same")};
        }
        const bool same = allSame(objs, s.attribute);
        return Value::boolValue(s.op == GqaOp::Same ? same : !same);
      }
      case GqaOp::Common: {
        const int a = single(in[0], "common"), b = single(in[1], "common");
        for (const char* type : {"color", "material", "shape"}) {
          const std::string va = valueOf(a, type);
          if (!va.empty() && va == valueOf(b, type)) return Value::wordValue(type);
        }
        throw std::runtime_error("the objects share no color, material or shape");
      }
    }
    throw std::runtime_error("unsupported operation");
  }

 private:
  const SceneGraph& scene_;
  const GqaLexicon* lexicon_;
};

}  // namespace

const std::map<std::string, std::pair<std::string, std::string>>& gqaComparatives() {
  static const std::map<std::string, std::pair<std::string, std::string>> m{
      {"older", {"old", "young"}},         {"younger", {"young", "old"}},     {"taller", {"tall", "short"}},
      {"shorter", {"short", "tall"}},      {"larger", {"large", "small"}},    {"bigger", {"big", "small"}},
      {"smaller", {"small", "large"}},     {"higher", {"high", "low"}},       {"lower", {"low", "high"}},
      {"longer", {"long", "short"}},       {"healthier", {"healthy", "unhealthy"}},
      {"less healthy", {"unhealthy", "healthy"}}, {"heavier", {"heavy", "light"}}, {"lighter", {"light", "heavy"}},
      {"thicker", {"thick", "thin"}},      {"thinner", {"thin", "thick"}},    {"wider", {"wide", "narrow"}},
      {"cleaner", {"clean", "dirty"}},     {"dirtier", {"dirty", "clean"}},   {"darker", {"dark", "light"}}};
  return m;
}


void GqaLexicon::add(const std::string& type, const std::string& value) {
  if (!type.empty() && !value.empty()) values_[type].insert(value);
}

void GqaLexicon::addFromProgram(const GqaProgram& program) {
  for (const auto& s : program.steps) {
    if (s.op == GqaOp::Filter || s.op == GqaOp::Verify || s.op == GqaOp::Choose)
      for (const auto& v : s.values) add(s.attribute, v);
  }
}

const std::set<std::string>* GqaLexicon::valuesOf(const std::string& type) const {
  auto it = values_.find(type);
  return it == values_.end() ? nullptr : &it->second;
}

bool GqaLexicon::has(const std::string& type, const std::string& value) const {
  const auto* v = valuesOf(type);
  return v && v->count(value);
}

ExecutionResult GqaExecutor::run(const GqaProgram& program, const SceneGraph& scene) const {
  std::vector<StepView> steps;
  for (const auto& s : program.steps) steps.push_back({&s.dependencies, &s.operation});
  const Run run(scene, lexicon_);
  return runSteps(program.order, steps, [&](int i, const std::vector<Value>& in) { return run.step(program.steps[i], in); });
}

}  // namespace vqa
