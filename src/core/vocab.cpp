// CLEVR's vocabularies, in the order of CLEVR's metadata.json.
#include "core/vocab.h"

#include <algorithm>

namespace vqa::clevr {
namespace {
int indexOf(const std::vector<std::string>& list, const std::string& v) {
  auto it = std::find(list.begin(), list.end(), v);
  return it == list.end() ? -1 : static_cast<int>(it - list.begin());
}
}  // namespace

const std::vector<std::string>& colors() {
  static const std::vector<std::string> v{"gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow"};
  return v;
}
const std::vector<std::string>& shapes() {
  static const std::vector<std::string> v{"cube", "sphere", "cylinder"};
  return v;
}
const std::vector<std::string>& materials() {
  static const std::vector<std::string> v{"rubber", "metal"};
  return v;
}
const std::vector<std::string>& sizes() {
  static const std::vector<std::string> v{"small", "large"};
  return v;
}
const std::vector<std::string>& relations() {
  static const std::vector<std::string> v{"left", "right", "behind", "front"};
  return v;
}
int relationIndex(const std::string& relation) { return indexOf(relations(), relation); }

const std::vector<Attribute>& attributes() {
  static const std::vector<Attribute> v{Attribute::Color, Attribute::Shape, Attribute::Material, Attribute::Size};
  return v;
}
const std::string& attributeName(Attribute a) {
  static const std::string names[] = {"color", "shape", "material", "size"};
  return names[static_cast<int>(a)];
}
const std::string& attributeTypeName(Attribute a) {
  static const std::string names[] = {"Color", "Shape", "Material", "Size"};
  return names[static_cast<int>(a)];
}
const std::vector<std::string>& attributeValues(Attribute a) {
  switch (a) {
    case Attribute::Color: return colors();
    case Attribute::Shape: return shapes();
    case Attribute::Material: return materials();
    case Attribute::Size: break;
  }
  return sizes();
}
bool parseAttribute(const std::string& name, Attribute* out) {
  for (Attribute a : attributes()) {
    if (name == attributeName(a) || name == attributeTypeName(a)) {
      *out = a;
      return true;
    }
  }
  return false;
}
int valueIndex(Attribute a, const std::string& value) { return indexOf(attributeValues(a), value); }

const std::map<std::string, std::vector<std::string>>& synonyms() {
  static const std::map<std::string, std::vector<std::string>> s = {
      {"thing", {"thing", "object"}},
      {"sphere", {"sphere", "ball"}},
      {"cube", {"cube", "block"}},
      {"large", {"large", "big"}},
      {"small", {"small", "tiny"}},
      {"metal", {"metallic", "metal", "shiny"}},
      {"rubber", {"rubber", "matte"}},
      {"left", {"left of", "to the left of", "on the left side of"}},
      {"right", {"right of", "to the right of", "on the right side of"}},
      {"behind", {"behind"}},
      {"front", {"in front of"}}};
  return s;
}

const std::vector<std::string>& answers() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> out{"yes", "no"};
    for (int i = 0; i <= kMaxCount; ++i) out.push_back(std::to_string(i));
    for (const auto& c : colors()) out.push_back(c);
    for (const auto& s : sizes()) out.push_back(s);
    for (const auto& s : shapes()) out.push_back(s);
    for (const auto& m : materials()) out.push_back(m);
    return out;
  }();
  return v;
}
int answerIndex(const std::string& answer) { return indexOf(answers(), answer); }

}  // namespace vqa::clevr
