// The question tokenizer of the program model: questions are lower-cased and split into words and punctuation;
// the vocabulary is built from training questions and saved with the model. A word it has never seen maps to
// <unk>, so any question can be encoded.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vqa::program {

class QuestionTokenizer {
 public:
  static constexpr int64_t kPad = 0, kUnknown = 1, kStart = 2, kEnd = 3;

  // The special tokens only; add words with build().
  QuestionTokenizer();

  // Words of a question: lower-case, split at white space, with ? , ; . ! ' as words of their own.
  static std::vector<std::string> split(const std::string& question);

  // A vocabulary of every word seen at least `min_count` times in `questions`, in first-seen order (the same
  // questions give the same ids).
  static QuestionTokenizer build(const std::vector<std::string>& questions, int min_count = 1);

  // <start> word ids <end>. Throws std::runtime_error when the question has no word or, with the two markers,
  // more than `max_tokens` tokens.
  std::vector<int64_t> encode(const std::string& question, int64_t max_tokens) const;

  int64_t id(const std::string& word) const;  // kUnknown for a word outside the vocabulary
  const std::string& word(int64_t id) const;  // throws std::out_of_range for an id outside the vocabulary
  int64_t size() const { return static_cast<int64_t>(words_.size()); }

  // {"words": [...]} for a model file; fromJson checks the special tokens and refuses duplicates.
  nlohmann::json toJson() const;
  static QuestionTokenizer fromJson(const nlohmann::json& value);

 private:
  void add(const std::string& word);
  std::vector<std::string> words_;
  std::map<std::string, int64_t> index_;
};

}  // namespace vqa::program
