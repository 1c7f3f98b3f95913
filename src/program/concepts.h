// Concept words: the CLEVR attribute values and relations a question names (the value, one of CLEVR's synonyms
// for it, or their plural).
// - The concept mask: a `filter_<attribute>[value]` or `relate[relation]` token may appear in a question's
//   program only when the question names that concept. Decoding under it copies concepts from the question
//   instead of guessing them, so answer-driven search never proposes a filter the question does not mention.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vqa::program {

// One entry per program token (typed_program.h's order): 1 = allowed. Tokens that name no concept are
// always allowed.
std::vector<uint8_t> conceptTokenMask(const std::string& question);

// ---- Noun phrases ----------------------------------------------------------------------------------------
// A noun phrase is a maximal run of concept words and "thing"/"object" that ends in a noun ("the big rubber
// things", "a tiny cyan metallic block"; the "big" of "how big is it" is no phrase); its chain is the filter tokens it names in CLEVR's program order (size, color,
// material, shape; "thing" names none). A relation word (left, right, behind, front) is a phrase whose chain
// is its relate token. The program model reads each phrase as one placeholder word <np1>, <np2>, ... and
// points at it with a pointer id that expands to the phrase's chain, so it learns a question's structure
// apart from the concepts it names. A phrase that names no filter ("the things", "an object") is no
// placeholder: it reads as the word <thing> and its program has no filter there, which the parser must be
// able to tell from a phrase that does.
constexpr int kMaxPhrases = 12;

struct PhraseView {
  std::string question;                      // the question's words, phrases as <np1>..., joined by spaces
  std::vector<std::vector<int>> chains;      // per phrase (question order, at most kMaxPhrases): filter tokens
};
PhraseView phraseView(const std::string& question);
// The program with every maximal run of filter tokens, and every relate token, that equals some phrase's
// chain replaced by a pointer id (pointer_base + phrase index; the first matching phrase).
std::vector<int> pointProgram(const std::vector<int>& program, const std::vector<std::vector<int>>& chains,
                              int pointer_base);
// Whether a program in pointer form points at every phrase of its question, phrases with equal chains
// being interchangeable (for each chain, at least as many pointers at it as the question has such phrases).
// CLEVR's programs use every phrase their question names, so this separates a complete program from one
// that skips a hop and happens to give the same answer.
bool coversPhrases(const std::vector<int>& pointed, const std::vector<std::vector<int>>& chains, int pointer_base);
// Every pointer id replaced by its phrase's chain. Throws std::out_of_range for a pointer past the phrases.
std::vector<int> expandProgram(const std::vector<int>& pointed, const std::vector<std::vector<int>>& chains,
                               int pointer_base);

}  // namespace vqa::program
