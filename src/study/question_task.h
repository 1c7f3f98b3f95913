// The outlier study's own task: CLEVR-style questions tagged word by word with program tokens
// (filter_color[red], relate[left], union, intersect, count, exist, query_shape, ...), generated from the
// CLEVR vocabulary with synonyms. Many tags need context, not just the word:
//   - the final "?" carries the question's root function, decided by words at the start
//     ("How many" -> count, "What is the color of" -> query_color, "Are there fewer" -> less_than);
//   - "and" is union ("cubes and spheres"), intersect ("both left of .. and behind .."), or nothing
//     ("the same number of .. and ..");
//   - "the" is unique before an object but nothing before an attribute noun ("the color of");
//   - "big" is filter_size[large] in an object phrase but nothing in "How big is ..";
//   - "same" is same_color / same_shape / ... in relate-by-attribute questions only.
// Object phrases nest relations up to two hops deep.
#pragma once
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace vqa::study {

struct TaggedQuestion {
  std::vector<std::string> words;
  std::vector<std::string> tags;
};

class ClevrStyleTagging {
 public:
  static constexpr int64_t kIgnoreTag = -100;  // loss/metric ignore index (padding and <bos>)

  explicit ClevrStyleTagging(int64_t max_length = 40);

  TaggedQuestion sample(std::mt19937_64& rng) const;

  // A batch of `count` questions: word ids [count, max_length] starting with <bos>, padded with <pad>;
  // tag ids [count, max_length] with kIgnoreTag on <bos> and padding; padding mask (1 = padding).
  struct Batch {
    std::vector<int64_t> word_ids, tag_ids;
    std::vector<uint8_t> padding;
    int64_t count = 0, length = 0;
  };
  Batch batch(int64_t count, std::mt19937_64& rng) const;

  int64_t vocabulary_size() const { return static_cast<int64_t>(words_.size()); }
  int64_t tag_count() const { return static_cast<int64_t>(tags_.size()); }
  int64_t max_length() const { return max_length_; }
  int64_t word_id(const std::string& word) const;
  int64_t tag_id(const std::string& tag) const;
  const std::vector<std::string>& tag_names() const { return tags_; }

 private:
  int64_t max_length_;
  std::vector<std::string> words_, tags_;
  std::map<std::string, int64_t> word_index_, tag_index_;
};

}  // namespace vqa::study
