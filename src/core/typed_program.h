// Typed CLEVR programs shared by every executor: each node resolved once from its strings into an operation
// plus attribute / value / relation indices, and the program-token vocabulary (`scene`, `filter_color[red]`,
// `relate[left]`, `count`, ...) with conversion to and from postfix token sequences.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/program.h"
#include "core/vocab.h"

namespace vqa {

// One operation per CLEVR function family; the attribute, value and relation live beside it.
enum class Op : std::uint8_t {
  Scene,
  Filter,  // attribute, value
  Unique,
  Relate,  // relation
  Union,
  Intersect,
  Count,
  Exist,
  Query,           // attribute
  Same,            // attribute
  EqualAttribute,  // attribute
  EqualInteger,
  LessThan,
  GreaterThan,
  EqualObject,
  NoOp,     // the special tokens <pad>, <start>, <end>: leave an executor's state as it is
  Invalid,  // a node that could not be resolved (TypedNode::error says why)
};

struct TypedNode {
  Op op = Op::Invalid;
  clevr::Attribute attribute = clevr::Attribute::Color;  // Filter, Query, Same, EqualAttribute
  int value = -1;     // Filter: index into clevr::attributeValues(attribute); -1 for a word outside it
  int relation = -1;  // Relate: index into clevr::relations(); -1 for a word outside it
  std::vector<int> inputs;
  std::string function;  // the function's name as written, for messages
  std::string error;     // Op::Invalid only
};

struct TypedProgram {
  std::vector<TypedNode> nodes;
  int size() const { return static_cast<int>(nodes.size()); }
};

// Resolves every node once. Never throws: a node that cannot be resolved (unknown or template-only function,
// missing value input) becomes Op::Invalid with its reason, and an executor reports it when it reaches that
// step, as it reports any other failing step. A value word outside CLEVR's vocabulary resolves to -1, which
// matches no object. validateProgram() refuses all of these up front.
TypedProgram resolveProgram(const Program& program);
// Back to the string form (for printing and JSON). Throws std::runtime_error for Op::Invalid / Op::NoOp nodes.
Program toProgram(const TypedProgram& program);

// ---- Program tokens -------------------------------------------------------------------------------------
// The vocabulary: <pad>, <start>, <end>, then every `function[value]` token of CLEVR's language (41 of them).
// Token ids are stable: the order below is the order of programTokens().
struct ProgramToken {
  std::string text;                              // "filter_color[red]", "relate[left]", "count", "<pad>"
  TypedNode node;                                // op, attribute, value, relation (inputs empty)
  int arity = 0;                                 // how many earlier results it consumes
  const FunctionSignature* signature = nullptr;  // input and output types; nullptr for the special tokens
};

const std::vector<ProgramToken>& programTokens();
constexpr int kPadToken = 0;
constexpr int kStartToken = 1;
constexpr int kEndToken = 2;
int numProgramTokens();
int programTokenIndex(const std::string& text);  // -1 when unknown
// The token of a resolved node; -1 for Invalid / NoOp nodes and for values or relations outside the vocabulary.
int tokenOf(const TypedNode& node);

// Postfix order (inputs first, in input order, then the node), from the last node. A node used by two later
// nodes is written once per use. `node_of_position`, when given, receives the node each token stands for.
// Throws std::runtime_error("step K: problem") when a node has no token.
std::vector<int> toPostfix(const TypedProgram& program, std::vector<int>* node_of_position = nullptr);
// A postfix token sequence as a typed program (one node per module token; <pad> and <start> are skipped and
// <end> stops). Throws std::runtime_error("token K: problem") for an unknown id, an input of the wrong type, a
// token with too few inputs before it, or a sequence that leaves other than one result.
TypedProgram fromPostfix(const std::vector<int>& tokens);
// Type-checked decoding. The types of the results a postfix prefix leaves, bottom first (throws like
// fromPostfix for a prefix that does not type-check), and whether a token may come next: a module token when
// its inputs' types are on top of the stack, in order; <end> when exactly one answer-typed result is left;
// <pad> and <start> never.
std::vector<ValueType> postfixStackTypes(const std::vector<int>& prefix);
bool tokenFits(const std::vector<ValueType>& stack, int token);
// "scene filter_color[red] unique query_shape".
std::string tokensToString(const std::vector<int>& tokens);

}  // namespace vqa
