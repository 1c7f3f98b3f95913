// Question tokenizer: splitting, vocabulary building and encoding (see tokenizer.h).
#include "program/tokenizer.h"

#include <cctype>
#include <stdexcept>

#include "core/errors.h"

namespace vqa::program {
namespace {
const char* const kSpecial[] = {"<pad>", "<unk>", "<start>", "<end>"};
bool isPunctuation(char c) { return c == '?' || c == ',' || c == ';' || c == '.' || c == '!' || c == '\''; }
}  // namespace

QuestionTokenizer::QuestionTokenizer() {
  for (const char* w : kSpecial) add(w);
}

void QuestionTokenizer::add(const std::string& word) {
  if (index_.emplace(word, static_cast<int64_t>(words_.size())).second) words_.push_back(word);
}

std::vector<std::string> QuestionTokenizer::split(const std::string& question) {
  std::vector<std::string> out;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) out.push_back(current), current.clear();
  };
  for (char c : question) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isspace(u)) {
      flush();
    } else if (isPunctuation(c)) {
      flush();
      out.emplace_back(1, c);
    } else {
      current += static_cast<char>(std::tolower(u));
    }
  }
  flush();
  return out;
}

QuestionTokenizer QuestionTokenizer::build(const std::vector<std::string>& questions, int min_count) {
  std::map<std::string, int> counts;
  std::vector<std::string> order;
  for (const auto& q : questions)
    for (const auto& w : split(q))
      if (counts[w]++ == 0) order.push_back(w);
  QuestionTokenizer t;
  for (const auto& w : order)
    if (counts[w] >= min_count) t.add(w);
  return t;
}

std::vector<int64_t> QuestionTokenizer::encode(const std::string& question, int64_t max_tokens) const {
  const std::vector<std::string> words = split(question);
  if (words.empty()) throw std::runtime_error("the question has no words");
  if (static_cast<int64_t>(words.size()) + 2 > max_tokens)
    throw std::runtime_error("the question has " + std::to_string(words.size()) + " words; at most " +
                             std::to_string(max_tokens - 2) + " are accepted");
  std::vector<int64_t> ids = {kStart};
  for (const auto& w : words) ids.push_back(id(w));
  ids.push_back(kEnd);
  return ids;
}

int64_t QuestionTokenizer::id(const std::string& word) const {
  auto it = index_.find(word);
  return it == index_.end() ? kUnknown : it->second;
}

const std::string& QuestionTokenizer::word(int64_t id) const {
  if (id < 0 || id >= size()) throw std::out_of_range("word id " + std::to_string(id) + " is outside the vocabulary");
  return words_[static_cast<size_t>(id)];
}

nlohmann::json QuestionTokenizer::toJson() const { return {{"words", words_}}; }

QuestionTokenizer QuestionTokenizer::fromJson(const nlohmann::json& value) {
  if (!value.is_object() || !value.contains("words") || !value.at("words").is_array())
    throw std::runtime_error("tokenizer: 'words' must be an array of strings");
  const auto& words = value.at("words");
  QuestionTokenizer t;
  if (words.size() < 4) throw std::runtime_error("tokenizer: the vocabulary lacks its special tokens");
  for (size_t i = 0; i < words.size(); ++i) {
    if (!words[i].is_string()) throw std::runtime_error("tokenizer: word " + std::to_string(i) + " is not a string");
    const std::string w = words[i].get<std::string>();
    if (i < 4) {
      if (w != kSpecial[i])
        throw std::runtime_error("tokenizer: word " + std::to_string(i) + " is " + quotedValue(w) + ", expected " +
                                 kSpecial[i]);
      continue;
    }
    if (w.empty() || t.index_.count(w))
      throw std::runtime_error("tokenizer: word " + std::to_string(i) + " " + quotedValue(w) + " is empty or repeated");
    t.add(w);
  }
  return t;
}

}  // namespace vqa::program
