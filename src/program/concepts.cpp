// Concept words: which concepts a question names, and exchanging them consistently in question and program.
#include "program/concepts.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/typed_program.h"
#include "core/vocab.h"
#include "program/tokenizer.h"

namespace vqa::program {

namespace {

// The single words that name a concept: the value itself and its one-word synonyms; relations by their
// name ("left" of "to the left of").
std::vector<std::string> conceptWords(const std::string& value) {
  std::vector<std::string> words{value};
  const auto& synonyms = clevr::synonyms();
  if (auto it = synonyms.find(value); it != synonyms.end())
    for (const auto& form : it->second)
      if (form.find(' ') == std::string::npos) words.push_back(form);
  return words;
}

}  // namespace

std::vector<uint8_t> conceptTokenMask(const std::string& question) {
  std::set<std::string> words;
  for (const std::string& w : QuestionTokenizer::split(question)) {
    words.insert(w);
    if (w.size() > 1 && w.back() == 's') words.insert(w.substr(0, w.size() - 1));  // cubes, spheres, balls
  }
  const auto& tokens = programTokens();
  std::vector<uint8_t> mask(tokens.size(), 1);
  for (size_t k = 0; k < tokens.size(); ++k) {
    const TypedNode& node = tokens[k].node;
    std::string concept;
    if (node.op == Op::Filter && node.value >= 0) concept = clevr::attributeValues(node.attribute)[node.value];
    else if (node.op == Op::Relate && node.relation >= 0) concept = clevr::relations()[node.relation];
    else continue;
    bool named = false;
    for (const auto& w : conceptWords(concept)) named = named || words.count(w) > 0;
    mask[k] = named ? 1 : 0;
  }
  return mask;
}

namespace {

// The filter token a word names (-1: none); `noun` says whether it can end a phrase's run ("thing" names no
// filter but belongs to the phrase).
int filterTokenOfWord(const std::string& word, bool* thing) {
  *thing = word == "thing" || word == "things" || word == "object" || word == "objects";
  if (*thing) return -1;
  for (clevr::Attribute a : clevr::attributes()) {
    const auto& values = clevr::attributeValues(a);
    for (size_t v = 0; v < values.size(); ++v)
      for (const auto& form : conceptWords(values[v]))
        if (word == form || word == form + "s") return programTokenIndex("filter_" + clevr::attributeName(a) + "[" + values[v] + "]");
  }
  return -1;
}

// A relation's surface forms as word lists (CLEVR's synonyms: "left of", "to the left of", ...).
const std::vector<std::vector<std::string>>& relationForms(const std::string& relation) {
  static const std::map<std::string, std::vector<std::vector<std::string>>> forms = [] {
    std::map<std::string, std::vector<std::vector<std::string>>> out;
    for (const std::string& r : clevr::relations()) {
      auto& list = out[r];
      list.push_back({r});
      if (auto it = clevr::synonyms().find(r); it != clevr::synonyms().end())
        for (const auto& form : it->second) list.push_back(QuestionTokenizer::split(form));
    }
    return out;
  }();
  return forms.at(relation);
}

int chainRank(int token) {
  static const std::vector<clevr::Attribute> order{clevr::Attribute::Size, clevr::Attribute::Color,
                                                   clevr::Attribute::Material, clevr::Attribute::Shape};
  const clevr::Attribute a = programTokens()[token].node.attribute;
  return static_cast<int>(std::find(order.begin(), order.end(), a) - order.begin());
}

bool isFilterToken(int token) {
  return token >= 0 && token < numProgramTokens() && programTokens()[token].node.op == Op::Filter;
}

bool isRelateToken(int token) {
  return token >= 0 && token < numProgramTokens() && programTokens()[token].node.op == Op::Relate;
}

}  // namespace

PhraseView phraseView(const std::string& question) {
  const std::vector<std::string> words = QuestionTokenizer::split(question);
  PhraseView view;
  std::string text;
  auto emit = [&](const std::string& w) { text += (text.empty() ? "" : " ") + w; };
  for (size_t i = 0; i < words.size();) {
    // A relation is a phrase of its own, with all the words of its longest surface form ("on the left side
    // of", "to the left of" and "left of" read alike; the bare word is a form too).
    if (static_cast<int>(view.chains.size()) < kMaxPhrases) {
      int relation = -1;
      size_t length = 0;
      for (int r = 0; r < static_cast<int>(clevr::relations().size()); ++r)
        for (const auto& form : relationForms(clevr::relations()[r]))
          if (form.size() > length && i + form.size() <= words.size() &&
              std::equal(form.begin(), form.end(), words.begin() + static_cast<long>(i)))
            relation = r, length = form.size();
      if (relation >= 0) {
        view.chains.push_back({programTokenIndex("relate[" + clevr::relations()[relation] + "]")});
        emit("<np" + std::to_string(view.chains.size()) + ">");
        i += length;
        continue;
      }
    }
    std::vector<int> chain;
    size_t j = i;
    bool noun = false;  // the run ends in a noun: a shape, "thing" or "object"
    while (j < words.size()) {
      bool thing = false;
      const int token = filterTokenOfWord(words[j], &thing);
      if (token < 0 && !thing) break;
      if (token >= 0) chain.push_back(token);
      noun = thing || programTokens()[token].node.attribute == clevr::Attribute::Shape;
      ++j;
    }
    if (j > i && chain.empty()) {  // "the things": names no filter, so no pointer; one word for its forms
      emit("<thing>");
      i = j;
      continue;
    }
    // Concept words without a noun ("how big is it") name no object: plain words.
    if (j == i || !noun || static_cast<int>(view.chains.size()) >= kMaxPhrases) {
      for (size_t k = i; k < std::max(j, i + 1); ++k) emit(words[k]);
      i = std::max(j, i + 1);
      continue;
    }
    std::stable_sort(chain.begin(), chain.end(), [](int a, int b) { return chainRank(a) < chainRank(b); });
    view.chains.push_back(chain);
    emit("<np" + std::to_string(view.chains.size()) + ">");
    i = j;
  }
  view.question = text;
  return view;
}

std::vector<int> pointProgram(const std::vector<int>& program, const std::vector<std::vector<int>>& chains,
                              int pointer_base) {
  std::vector<int> out;
  for (size_t i = 0; i < program.size();) {
    if (isRelateToken(program[i])) {
      const auto it = std::find(chains.begin(), chains.end(), std::vector<int>{program[i]});
      out.push_back(it != chains.end() ? pointer_base + static_cast<int>(it - chains.begin()) : program[i]);
      ++i;
      continue;
    }
    if (!isFilterToken(program[i])) {
      out.push_back(program[i++]);
      continue;
    }
    size_t j = i;
    while (j < program.size() && isFilterToken(program[j])) ++j;
    const std::vector<int> run(program.begin() + static_cast<long>(i), program.begin() + static_cast<long>(j));
    const auto it = std::find(chains.begin(), chains.end(), run);
    if (it != chains.end()) out.push_back(pointer_base + static_cast<int>(it - chains.begin()));
    else out.insert(out.end(), run.begin(), run.end());
    i = j;
  }
  return out;
}

bool coversPhrases(const std::vector<int>& pointed, const std::vector<std::vector<int>>& chains, int pointer_base) {
  std::map<std::vector<int>, int> missing;  // per chain: phrases not yet pointed at
  for (const auto& chain : chains) ++missing[chain];
  for (int token : pointed) {
    const size_t phrase = static_cast<size_t>(token - pointer_base);
    if (token >= pointer_base && phrase < chains.size()) --missing[chains[phrase]];
  }
  for (const auto& [chain, count] : missing)
    if (count > 0) return false;
  return true;
}

std::vector<int> expandProgram(const std::vector<int>& pointed, const std::vector<std::vector<int>>& chains,
                               int pointer_base) {
  std::vector<int> out;
  for (int token : pointed) {
    if (token < pointer_base) {
      out.push_back(token);
      continue;
    }
    const auto& chain = chains.at(static_cast<size_t>(token - pointer_base));
    out.insert(out.end(), chain.begin(), chain.end());
  }
  return out;
}

}  // namespace vqa::program
