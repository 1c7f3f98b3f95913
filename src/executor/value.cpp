// Step values and their CLEVR/CLOSURE spellings.
#include "executor/value.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/program.h"

namespace vqa {

Value Value::set(std::vector<int> objects) {
  std::sort(objects.begin(), objects.end());
  objects.erase(std::unique(objects.begin(), objects.end()), objects.end());
  Value v;
  v.kind = Kind::ObjectSet;
  v.objects = std::move(objects);
  return v;
}
Value Value::object(int index) {
  Value v;
  v.kind = Kind::Object;
  v.objects = {index};
  return v;
}
Value Value::integerValue(int i) {
  Value v;
  v.kind = Kind::Integer;
  v.integer = i;
  return v;
}
Value Value::boolValue(bool b) {
  Value v;
  v.kind = Kind::Bool;
  v.boolean = b;
  return v;
}
Value Value::wordValue(std::string w) {
  Value v;
  v.kind = Kind::Word;
  v.word = std::move(w);
  return v;
}

std::string Value::answer() const {
  switch (kind) {
    case Kind::Bool: return boolean ? "yes" : "no";
    case Kind::Integer: return std::to_string(integer);
    case Kind::Word: return word;
    case Kind::Object: return std::to_string(objects.front());
    case Kind::ObjectSet: break;
  }
  std::string s = "[";
  for (size_t i = 0; i < objects.size(); ++i) s += (i ? "," : "") + std::to_string(objects[i]);
  return s + "]";
}

nlohmann::json Value::toJson() const {
  switch (kind) {
    case Kind::ObjectSet: return objects;
    case Kind::Object: return objects.front();
    default: return answer();
  }
}

bool Value::matches(const nlohmann::json& expected) const {
  switch (kind) {
    case Kind::ObjectSet: {
      if (!expected.is_array()) return false;
      std::vector<int> e;
      for (const auto& x : expected) {
        const std::optional<int> index = jsonIntIfFits(x);
        if (!index) return false;
        e.push_back(*index);
      }
      std::sort(e.begin(), e.end());
      return e == objects;
    }
    case Kind::Object:
      return jsonIntIfFits(expected) == objects.front();
    case Kind::Bool:
      if (expected.is_boolean()) return expected.get<bool>() == boolean;
      break;
    case Kind::Integer:
      if (expected.is_number_integer()) return jsonIntIfFits(expected) == integer;
      break;
    case Kind::Word:
      break;
  }
  return expected.is_string() && expected.get<std::string>() == answer();
}

bool Value::operator==(const Value& o) const {
  return kind == o.kind && objects == o.objects && integer == o.integer && boolean == o.boolean && word == o.word;
}

}  // namespace vqa
