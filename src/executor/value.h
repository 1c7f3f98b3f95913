// The value a program step produces: an object set, one object, an integer, a boolean or a word.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vqa {

struct Value {
  enum class Kind { ObjectSet, Object, Integer, Bool, Word };
  Kind kind = Kind::ObjectSet;
  std::vector<int> objects;  // ObjectSet: sorted indices; Object: exactly one index
  int integer = 0;
  bool boolean = false;
  std::string word;

  static Value set(std::vector<int> objects);
  static Value object(int index);
  static Value integerValue(int v);
  static Value boolValue(bool v);
  static Value wordValue(std::string w);

  // The answer string CLEVR and GQA use: "yes"/"no", decimal integers, words.
  std::string answer() const;
  // JSON as CLOSURE's "_output": a list of indices, an index, or the answer string.
  nlohmann::json toJson() const;
  // True when `expected` (CLOSURE "_output" style: list, index, string, bool, integer) means this value.
  bool matches(const nlohmann::json& expected) const;
  bool operator==(const Value& other) const;
};

}  // namespace vqa
