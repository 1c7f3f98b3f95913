// Generator of the study's CLEVR-style tagging questions (see question_task.h).
#include "study/question_task.h"

#include <stdexcept>
#include <vector>

#include "core/vocab.h"

namespace vqa::study {

namespace {

struct Synonym {
  std::string word;
  std::string value;
};
// Singular, plural, shape value ("" for thing / object: no shape filter).
struct Noun {
  std::string singular;
  std::string plural;
  std::string shape;
};

// Every surface form of every value of one attribute, from CLEVR's vocabulary and synonyms (core/vocab.h).
std::vector<Synonym> surfaceForms(const std::vector<std::string>& values) {
  std::vector<Synonym> out;
  for (const auto& value : values) {
    auto it = clevr::synonyms().find(value);
    if (it == clevr::synonyms().end()) out.push_back({value, value});
    else for (const auto& word : it->second) out.push_back({word, value});
  }
  return out;
}
std::vector<Noun> nouns() {
  std::vector<Noun> out;
  for (const auto& s : surfaceForms(clevr::shapes())) out.push_back({s.word, s.word + "s", s.value});
  for (const auto& word : clevr::synonyms().at("thing")) out.push_back({word, word + "s", ""});
  return out;
}
std::vector<std::string> attributeNames() {
  std::vector<std::string> out;
  for (clevr::Attribute a : clevr::attributes()) out.push_back(clevr::attributeName(a));
  return out;
}

const std::vector<std::string>& kColors = clevr::colors();
const std::vector<Synonym> kSizes = surfaceForms(clevr::sizes());
const std::vector<Synonym> kMaterials = surfaceForms(clevr::materials());
const std::vector<Noun> kNouns = nouns();
const std::vector<std::string> kAttributes = attributeNames();  // color, shape, material, size
const std::vector<std::string>& kRelations = clevr::relations();

class Builder {
 public:
  explicit Builder(std::mt19937_64& rng) : rng_(rng) {}
  void add(const std::string& word, const std::string& tag = "none") {
    q.words.push_back(word);
    q.tags.push_back(tag);
  }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  // [det] [size] [color] [material] noun [that is <relation> <object>]
  void object(bool definite, bool plural, int depth) {
    if (!plural) add(definite ? "the" : "a", definite ? "unique" : "none");
    if (chance(0.35)) {
      const Synonym& s = kSizes[pick(kSizes.size())];
      add(s.word, std::string("filter_size[") + s.value + "]");
    }
    if (chance(0.5)) {
      const std::string& c = kColors[pick(kColors.size())];
      add(c, std::string("filter_color[") + c + "]");
    }
    if (chance(0.35)) {
      const Synonym& m = kMaterials[pick(kMaterials.size())];
      add(m.word, std::string("filter_material[") + m.value + "]");
    }
    const Noun& n = kNouns[pick(kNouns.size())];
    const std::string shape = n.shape;
    add(plural ? n.plural : n.singular, shape.empty() ? "scene" : "filter_shape[" + shape + "]");
    if (depth < 2 && chance(depth == 0 ? 0.45 : 0.25)) {
      add("that");
      add(plural ? "are" : "is");
      relation();
      object(true, false, depth + 1);
    }
  }
  void relation() {
    const std::string r = kRelations[pick(kRelations.size())];
    if (r == "front") {
      add("in");
      add("front", "relate[front]");
      add("of");
    } else if (r == "behind") {
      add("behind", "relate[behind]");
    } else {
      add("left" == r ? "left" : "right", "relate[" + r + "]");
      add("of");
    }
  }

  TaggedQuestion q;

 private:
  std::mt19937_64& rng_;
};

TaggedQuestion generate(std::mt19937_64& rng) {
  Builder b(rng);
  std::string root;
  switch (b.pick(9)) {
    case 0:  // exist
      if (b.chance(0.5)) {
        b.add("is"), b.add("there"), b.object(false, false, 0);
      } else {
        b.add("are"), b.add("there"), b.add("any"), b.object(false, true, 0);
      }
      root = "exist";
      break;
    case 1:  // count
      if (b.chance(0.5)) b.add("how"), b.add("many");
      else b.add("what"), b.add("number"), b.add("of");
      b.object(false, true, 0);
      b.add("are"), b.add("there");
      root = "count";
      break;
    case 2:  // count of a union: "cubes and spheres", "either cubes or spheres"
      b.add("how"), b.add("many"), b.add("things"), b.add("are");
      if (b.chance(0.5)) {
        b.add("either"), b.object(false, true, 1), b.add("or", "union"), b.object(false, true, 1);
      } else {
        b.object(false, true, 1), b.add("and", "union"), b.object(false, true, 1);
      }
      root = "count";
      break;
    case 3:  // count of an intersection of two relations
      if (b.chance(0.5)) b.add("how"), b.add("many");
      else b.add("what"), b.add("number"), b.add("of");
      b.add("things"), b.add("are"), b.add("both");
      b.relation(), b.object(true, false, 1), b.add("and", "intersect"), b.relation(), b.object(true, false, 1);
      root = "count";
      break;
    case 4: {  // query, two phrasings; "how big" is a query, not a size filter
      const std::string attr = kAttributes[b.pick(kAttributes.size())];
      if (attr == "size" && b.chance(0.5)) {
        b.add("how"), b.add("big"), b.add("is"), b.object(true, false, 0);
      } else if (attr == "material" && b.chance(0.5)) {
        b.add("what"), b.add("is"), b.object(true, false, 0), b.add("made"), b.add("of");
      } else if (b.chance(0.5)) {
        b.add("what"), b.add(attr), b.add("is"), b.object(true, false, 0);
      } else {
        b.add("what"), b.add("is"), b.add("the"), b.add(attr), b.add("of"), b.object(true, false, 0);
      }
      root = "query_" + attr;
      break;
    }
    case 5: {  // compare attributes
      const std::string attr = kAttributes[b.pick(kAttributes.size())];
      if (b.chance(0.5)) {
        b.add("is"), b.object(true, false, 0), b.add("the"), b.add("same"), b.add(attr), b.add("as");
      } else {
        b.add("does"), b.object(true, false, 0), b.add("have"), b.add("the"), b.add("same"), b.add(attr), b.add("as");
      }
      b.object(true, false, 1);
      root = "equal_" + attr;
      break;
    }
    case 6: {  // compare numbers; "and" here joins the two sides, it is not a union
      const int kind = b.pick(3);
      b.add("are"), b.add("there");
      if (kind == 2) {
        b.add("the"), b.add("same"), b.add("number"), b.add("of"), b.object(false, true, 1), b.add("and");
      } else {
        b.add(kind == 0 ? "more" : "fewer"), b.object(false, true, 1), b.add("than");
      }
      b.object(false, true, 1);
      root = kind == 0 ? "greater_than" : kind == 1 ? "less_than" : "equal_integer";
      break;
    }
    case 7: {  // relate by attribute: "same" becomes same_<attr>
      const std::string attr = kAttributes[b.pick(3)];
      b.add("how"), b.add("many"), b.add("other"), b.add("things"), b.add("are"), b.add("the");
      b.add("same", "same_" + attr), b.add(attr), b.add("as"), b.object(true, false, 1);
      root = "count";
      break;
    }
    default: {  // exist with a relation hop
      b.add("is"), b.add("there"), b.object(false, false, 1), b.add("that"), b.add("is"), b.relation();
      b.object(true, false, 1);
      root = "exist";
      break;
    }
  }
  b.add("?", root);
  return b.q;
}

}  // namespace

ClevrStyleTagging::ClevrStyleTagging(int64_t max_length) : max_length_(max_length) {
  auto add_word = [&](const std::string& w) {
    if (word_index_.emplace(w, static_cast<int64_t>(words_.size())).second) words_.push_back(w);
  };
  auto add_tag = [&](const std::string& t) {
    if (tag_index_.emplace(t, static_cast<int64_t>(tags_.size())).second) tags_.push_back(t);
  };
  for (const char* w : {"<pad>", "<bos>", "?", "the", "a", "is", "are", "there", "any", "how", "many", "what", "number",
                        "of", "things", "either", "or", "and", "both", "that", "in", "front", "behind", "left", "right",
                        "big", "made", "does", "have", "same", "as", "more", "fewer", "than", "other"})
    add_word(w);
  for (const std::string& c : kColors) add_word(c), add_tag(std::string("filter_color[") + c + "]");
  for (const auto& s : kSizes) add_word(s.word), add_tag(std::string("filter_size[") + s.value + "]");
  for (const auto& m : kMaterials) add_word(m.word), add_tag(std::string("filter_material[") + m.value + "]");
  for (const auto& n : kNouns) {
    add_word(n.singular), add_word(n.plural);
    add_tag(std::string(n.shape).empty() ? "scene" : std::string("filter_shape[") + n.shape + "]");
  }
  for (const std::string& a : kAttributes) {
    add_word(a);
    add_tag(std::string("query_") + a), add_tag(std::string("equal_") + a);
    if (std::string(a) != "size") add_tag(std::string("same_") + a);
  }
  for (const std::string& r : kRelations) add_tag(std::string("relate[") + r + "]");
  for (const char* t : {"none", "unique", "union", "intersect", "exist", "count", "greater_than", "less_than",
                        "equal_integer"})
    add_tag(t);
  add_word("<mask>");  // last, so the other word ids do not depend on it
}

int64_t ClevrStyleTagging::word_id(const std::string& word) const {
  auto it = word_index_.find(word);
  if (it == word_index_.end()) throw std::logic_error("question generator: unknown word '" + word + "'");
  return it->second;
}

int64_t ClevrStyleTagging::tag_id(const std::string& tag) const {
  auto it = tag_index_.find(tag);
  if (it == tag_index_.end()) throw std::logic_error("question generator: unknown tag '" + tag + "'");
  return it->second;
}

TaggedQuestion ClevrStyleTagging::sample(std::mt19937_64& rng) const {
  while (true) {  // resample the rare question longer than max_length - 1 (room for <bos>)
    TaggedQuestion q = generate(rng);
    if (static_cast<int64_t>(q.words.size()) < max_length_) return q;
  }
}

ClevrStyleTagging::Batch ClevrStyleTagging::batch(int64_t count, std::mt19937_64& rng) const {
  Batch out;
  out.count = count;
  out.length = max_length_;
  out.word_ids.assign(count * max_length_, word_id("<pad>"));
  out.tag_ids.assign(count * max_length_, kIgnoreTag);
  out.padding.assign(count * max_length_, 1);
  for (int64_t i = 0; i < count; ++i) {
    TaggedQuestion q = sample(rng);
    int64_t* words = &out.word_ids[i * max_length_];
    int64_t* tags = &out.tag_ids[i * max_length_];
    uint8_t* pad = &out.padding[i * max_length_];
    words[0] = word_id("<bos>");
    pad[0] = 0;
    for (size_t t = 0; t < q.words.size(); ++t) {
      words[t + 1] = word_id(q.words[t]);
      tags[t + 1] = tag_id(q.tags[t]);
      pad[t + 1] = 0;
    }
  }
  return out;
}

}  // namespace vqa::study
