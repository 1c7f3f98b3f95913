// GQA programs as token sequences for the GQA program model, and the grammar that keeps decoding on programs
// that parse.
//
// A program is written step after step; each step is its operation token, the fields its operation takes, and
// its dependencies as offsets back ("<dep1>" = the step just before):
//   select      <select> WORDS <sep>
//   relate      <relate> NAME <sep> RELATION <sep> <s>|<o>           (verify rel the same with <verify_rel>)
//   choose rel  <choose_rel> NAME <sep> REL <alt> REL <sep> <s>|<o>
//   filter      <filter> <attr:TYPE> [<not>] WORDS <sep>               (verify the same; "<attr:>": no type)
//   choose      <choose> <attr:TYPE> WORDS (<alt> WORDS)+ <sep>
//   query       <query> <attr:TYPE>          same/different/compare: <same> <attr:TYPE>, ...
//   exist, and, or, common: the operation token alone
// then one <depK> per dependency (select none; and, or, common, compare two; same/different one or two; the
// rest one), and <end> after the last step. Words are the argument's words as written (object names,
// attribute values, relations; "_" for any object); the grounding "(id,...)" is not part of a program the
// model writes. The options of choose and choose rel are written in sorted order: GQA's files list them in
// either order for questions worded alike ("to the right or to the left of" appears with both
// "to the left of|to the right of" and the reverse), and which option holds does not depend on it. Two
// programs are the same program exactly when their token sequences are equal.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/gqa_program.h"

namespace vqa::program {

// The structural tokens (every token that is not a word starts with '<').
extern const char* const kGqaEnd;
extern const char* const kGqaSep;
extern const char* const kGqaAlt;
extern const char* const kGqaNot;
constexpr int kGqaMaxDependencyOffset = 16;  // <dep1> ... <dep16>
constexpr int kGqaMaxFieldWords = 8;         // words in one name, value or relation
constexpr int kGqaMaxSteps = 16;

// The operation tokens, "<select>" ... "<common>", in GqaOp order.
const std::vector<std::string>& gqaOperationTokens();
std::string gqaAttributeToken(const std::string& type);  // "<attr:color>"
std::string gqaDependencyToken(int offset);             // "<dep1>"

// Throws std::runtime_error("step K: problem") for a step it cannot write (a dependency that is not an
// earlier step, an offset beyond kGqaMaxDependencyOffset, a field of more than kGqaMaxFieldWords words).
std::vector<std::string> gqaProgramTokens(const GqaProgram& program);
// The program the tokens write (without groundings). Throws std::runtime_error naming the first token that
// does not fit the grammar.
GqaProgram gqaProgramFromTokens(const std::vector<std::string>& tokens);
std::string gqaTokensToString(const std::vector<std::string>& tokens);  // joined by spaces

// What may come next, as classes of tokens (one word token stands for any word).
// NoAttribute is "<attr:>" (filter, verify and choose without a type).
enum class GqaTokenClass { Operation, Attribute, NoAttribute, Word, Sep, Alt, Not, Subject, Object, Dependency, End, Count };

// The grammar's state after a prefix, advanced token by token.
class GqaGrammarState {
 public:
  // Whether a token of `cls` may follow (for Operation: `operation` says which, as a GqaOp index; for
  // Dependency: `offset`), such that the program can still end within `budget` more tokens, the token itself
  // included. A state that may end lets End through with budget >= 1.
  bool allows(GqaTokenClass cls, int budget, int operation = -1, int offset = 0) const;
  // Throws std::runtime_error when the token does not fit.
  void advance(const std::string& token);
  // The same by class; false (the state unchanged) when a token of that class does not fit.
  bool advance(GqaTokenClass cls, int operation = -1, int offset = 0);
  bool finished() const { return finished_; }
  int steps() const { return steps_; }
  // The fewest tokens that end the program from here, <end> included.
  int tokensToFinish() const;

  static GqaTokenClass classOf(const std::string& token, int* operation = nullptr, int* offset = nullptr);

 private:
  // Slots of the step being written, in order.
  enum class Slot { Attribute, Negation, Words, Alternatives, Role, Dependencies };

  int steps_ = 0;             // finished steps (the current one not counted)
  int op_ = -1;               // the current step's GqaOp (-1: between steps)
  std::vector<Slot> slots_;   // the current step's slots
  size_t slot_ = 0;           // the slot being written
  int field_words_ = 0;       // words in the open field
  int alternatives_ = 0;      // finished alternatives of an Alternatives slot
  int dependencies_ = 0;      // dependencies written
  int min_deps_ = 0, max_deps_ = 0;
  bool finished_ = false;
};

}  // namespace vqa::program
