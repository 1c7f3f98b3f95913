// Typed CLEVR programs: resolution from strings, the program-token vocabulary and postfix conversion.
#include "core/typed_program.h"

#include <functional>
#include <map>
#include <stdexcept>

#include "core/errors.h"

namespace vqa {
namespace {

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The operation and attribute a function name stands for; false when the name is no CLEVR primitive.
bool operationOf(const std::string& fn, Op* op, clevr::Attribute* attribute) {
  static const std::map<std::string, Op> plain{{"scene", Op::Scene},
                                               {"unique", Op::Unique},
                                               {"relate", Op::Relate},
                                               {"union", Op::Union},
                                               {"intersect", Op::Intersect},
                                               {"count", Op::Count},
                                               {"exist", Op::Exist},
                                               {"equal_integer", Op::EqualInteger},
                                               {"less_than", Op::LessThan},
                                               {"greater_than", Op::GreaterThan},
                                               {"equal_object", Op::EqualObject}};
  if (auto it = plain.find(fn); it != plain.end()) {
    *op = it->second;
    return true;
  }
  static const std::pair<const char*, Op> families[] = {
      {"filter_", Op::Filter}, {"query_", Op::Query}, {"same_", Op::Same}, {"equal_", Op::EqualAttribute}};
  for (const auto& [prefix, family] : families) {
    if (!startsWith(fn, prefix)) continue;
    const std::string name = fn.substr(std::string(prefix).size());
    for (clevr::Attribute a : clevr::attributes()) {
      if (clevr::attributeName(a) == name) {
        *op = family;
        *attribute = a;
        return true;
      }
    }
  }
  return false;
}

const char* opFunctionName(Op op) {
  switch (op) {
    case Op::Scene:
      return "scene";
    case Op::Filter:
      return "filter_";
    case Op::Unique:
      return "unique";
    case Op::Relate:
      return "relate";
    case Op::Union:
      return "union";
    case Op::Intersect:
      return "intersect";
    case Op::Count:
      return "count";
    case Op::Exist:
      return "exist";
    case Op::Query:
      return "query_";
    case Op::Same:
      return "same_";
    case Op::EqualAttribute:
      return "equal_";
    case Op::EqualInteger:
      return "equal_integer";
    case Op::LessThan:
      return "less_than";
    case Op::GreaterThan:
      return "greater_than";
    case Op::EqualObject:
      return "equal_object";
    case Op::NoOp:
    case Op::Invalid:
      break;
  }
  return "";
}

bool hasAttribute(Op op) {
  return op == Op::Filter || op == Op::Query || op == Op::Same || op == Op::EqualAttribute;
}

// The function name of a resolved node: "filter_color", "relate", "count".
std::string functionName(const TypedNode& n) {
  std::string name = opFunctionName(n.op);
  if (hasAttribute(n.op)) name += clevr::attributeName(n.attribute);
  return name;
}

std::vector<ProgramToken> buildTokens() {
  std::vector<ProgramToken> tokens;
  for (const char* special : {"<pad>", "<start>", "<end>"}) {
    ProgramToken t;
    t.text = special;
    t.node.op = Op::NoOp;
    t.node.function = special;
    tokens.push_back(t);
  }
  auto add = [&](TypedNode node, const std::string& suffix) {
    node.function = functionName(node);
    ProgramToken t;
    t.text = node.function + suffix;
    t.signature = findFunction(node.function);
    t.arity = static_cast<int>(t.signature->inputs.size());
    t.node = node;
    tokens.push_back(std::move(t));
  };
  auto plain = [&](Op op) {
    TypedNode n;
    n.op = op;
    add(n, "");
  };
  auto perAttribute = [&](Op op) {
    for (clevr::Attribute a : clevr::attributes()) {
      TypedNode n;
      n.op = op;
      n.attribute = a;
      add(n, "");
    }
  };
  plain(Op::Scene);
  for (clevr::Attribute a : clevr::attributes()) {
    const auto& values = clevr::attributeValues(a);
    for (size_t v = 0; v < values.size(); ++v) {
      TypedNode n;
      n.op = Op::Filter;
      n.attribute = a;
      n.value = static_cast<int>(v);
      add(n, "[" + values[v] + "]");
    }
  }
  for (size_t r = 0; r < clevr::relations().size(); ++r) {
    TypedNode n;
    n.op = Op::Relate;
    n.relation = static_cast<int>(r);
    add(n, "[" + clevr::relations()[r] + "]");
  }
  for (Op op : {Op::Unique, Op::Union, Op::Intersect, Op::Count, Op::Exist}) plain(op);
  perAttribute(Op::Query);
  perAttribute(Op::Same);
  perAttribute(Op::EqualAttribute);
  for (Op op : {Op::EqualInteger, Op::LessThan, Op::GreaterThan, Op::EqualObject}) plain(op);
  return tokens;
}

}  // namespace

TypedProgram resolveProgram(const Program& program) {
  TypedProgram out;
  out.nodes.reserve(program.nodes.size());
  for (const ProgramNode& n : program.nodes) {
    TypedNode t;
    t.function = n.function;
    t.inputs = n.inputs;
    const FunctionSignature* sig = findFunction(n.function);
    Op op = Op::Invalid;
    clevr::Attribute attribute = clevr::Attribute::Color;
    if (sig && sig->template_only) {
      t.error = "'" + n.function + "' is a template-only function";
    } else if (!sig || !operationOf(n.function, &op, &attribute)) {
      t.error = "unknown function " + quotedValue(n.function);
    } else if ((op == Op::Filter || op == Op::Relate) && n.value_inputs.empty()) {
      t.error = "'" + n.function + "' needs a value input";
    } else {
      t.op = op;
      t.attribute = attribute;
      if (op == Op::Filter) t.value = clevr::valueIndex(attribute, n.value_inputs.front());
      if (op == Op::Relate) t.relation = clevr::relationIndex(n.value_inputs.front());
    }
    out.nodes.push_back(std::move(t));
  }
  return out;
}

Program toProgram(const TypedProgram& program) {
  Program out;
  for (size_t i = 0; i < program.nodes.size(); ++i) {
    const TypedNode& n = program.nodes[i];
    if (n.op == Op::Invalid || n.op == Op::NoOp)
      throw std::runtime_error("step " + std::to_string(i) + ": " + (n.error.empty() ? "not a program step" : n.error));
    ProgramNode p;
    p.function = functionName(n);
    p.inputs = n.inputs;
    if (n.op == Op::Filter) {
      const auto& values = clevr::attributeValues(n.attribute);
      if (n.value < 0 || n.value >= static_cast<int>(values.size()))
        throw std::runtime_error("step " + std::to_string(i) + ": value outside the vocabulary");
      p.value_inputs.push_back(values[static_cast<size_t>(n.value)]);
    }
    if (n.op == Op::Relate) {
      if (n.relation < 0 || n.relation >= static_cast<int>(clevr::relations().size()))
        throw std::runtime_error("step " + std::to_string(i) + ": relation outside the vocabulary");
      p.value_inputs.push_back(clevr::relations()[static_cast<size_t>(n.relation)]);
    }
    out.nodes.push_back(std::move(p));
  }
  return out;
}

const std::vector<ProgramToken>& programTokens() {
  static const std::vector<ProgramToken> tokens = buildTokens();
  return tokens;
}

int numProgramTokens() {
  return static_cast<int>(programTokens().size());
}

int programTokenIndex(const std::string& text) {
  static const std::map<std::string, int> index = [] {
    std::map<std::string, int> m;
    const auto& tokens = programTokens();
    for (size_t k = 0; k < tokens.size(); ++k) m[tokens[k].text] = static_cast<int>(k);
    return m;
  }();
  auto it = index.find(text);
  return it == index.end() ? -1 : it->second;
}

int tokenOf(const TypedNode& node) {
  const auto& tokens = programTokens();
  if (node.op == Op::Invalid || node.op == Op::NoOp) return -1;
  for (size_t k = 0; k < tokens.size(); ++k) {
    const TypedNode& t = tokens[k].node;
    if (t.op != node.op) continue;
    if (hasAttribute(node.op) && t.attribute != node.attribute) continue;
    if (node.op == Op::Filter && t.value != node.value) continue;
    if (node.op == Op::Relate && t.relation != node.relation) continue;
    return static_cast<int>(k);
  }
  return -1;
}

std::vector<int> toPostfix(const TypedProgram& program, std::vector<int>* node_of_position) {
  if (program.nodes.empty()) throw std::runtime_error("empty program");
  std::vector<int> token_of_node(program.nodes.size(), -1);
  for (size_t i = 0; i < program.nodes.size(); ++i) {
    const TypedNode& n = program.nodes[i];
    const int token = tokenOf(n);
    if (token < 0) {
      const std::string why = !n.error.empty()                             ? n.error
                              : (n.op == Op::Filter || n.op == Op::Relate) ? "its value is outside CLEVR's vocabulary"
                                                                           : "no program token";
      throw std::runtime_error("step " + std::to_string(i) + ": " + why);
    }
    const int arity = programTokens()[static_cast<size_t>(token)].arity;
    if (static_cast<int>(n.inputs.size()) != arity)
      throw std::runtime_error("step " + std::to_string(i) + ": '" + n.function + "' takes " + std::to_string(arity) +
                               " inputs, got " + std::to_string(n.inputs.size()));
    for (int in : n.inputs)
      if (in < 0 || in >= static_cast<int>(i))
        throw std::runtime_error("step " + std::to_string(i) + ": input " + std::to_string(in) +
                                 " is not an earlier step");
    token_of_node[i] = token;
  }
  std::vector<int> out;
  if (node_of_position) node_of_position->clear();
  // Inputs always point to earlier steps, so the recursion depth is bounded by the program's length.
  std::function<void(int)> emit = [&](int node) {
    for (int in : program.nodes[static_cast<size_t>(node)].inputs) emit(in);
    out.push_back(token_of_node[static_cast<size_t>(node)]);
    if (node_of_position) node_of_position->push_back(node);
  };
  emit(program.size() - 1);
  return out;
}

TypedProgram fromPostfix(const std::vector<int>& tokens) {
  const auto& vocab = programTokens();
  TypedProgram out;
  std::vector<int> stack;  // node indices of the results not yet consumed
  std::vector<ValueType> types;
  for (size_t k = 0; k < tokens.size(); ++k) {
    const std::string where = "token " + std::to_string(k);
    const int id = tokens[k];
    if (id < 0 || id >= static_cast<int>(vocab.size()))
      throw std::runtime_error(where + ": unknown token id " + std::to_string(id));
    const ProgramToken& t = vocab[static_cast<size_t>(id)];
    if (id == kEndToken) break;
    if (!t.signature) continue;
    if (static_cast<int>(stack.size()) < t.arity)
      throw std::runtime_error(where + ": '" + t.text + "' needs " + std::to_string(t.arity) + " inputs, " +
                               std::to_string(stack.size()) + " available");
    TypedNode node = t.node;
    const size_t first = stack.size() - static_cast<size_t>(t.arity);
    for (int a = 0; a < t.arity; ++a) {
      const int in = stack[first + static_cast<size_t>(a)];
      const ValueType want = t.signature->inputs[static_cast<size_t>(a)];
      if (types[static_cast<size_t>(in)] != want)
        throw std::runtime_error(where + ": '" + t.text + "' input " + std::to_string(a) + " must be " +
                                 typeName(want) + ", got " + typeName(types[static_cast<size_t>(in)]));
      node.inputs.push_back(in);
    }
    stack.resize(first);
    stack.push_back(static_cast<int>(out.nodes.size()));
    types.push_back(t.signature->output);
    out.nodes.push_back(std::move(node));
  }
  if (stack.size() != 1)
    throw std::runtime_error("token " + std::to_string(tokens.size()) + ": the sequence leaves " +
                             std::to_string(stack.size()) + " results, not 1");
  return out;
}

std::vector<ValueType> postfixStackTypes(const std::vector<int>& prefix) {
  const auto& vocab = programTokens();
  std::vector<ValueType> stack;
  for (size_t k = 0; k < prefix.size(); ++k) {
    const int id = prefix[k];
    if (id < 0 || id >= static_cast<int>(vocab.size()))
      throw std::runtime_error("token " + std::to_string(k) + ": unknown token id " + std::to_string(id));
    if (id == kEndToken) break;
    const ProgramToken& t = vocab[static_cast<size_t>(id)];
    if (!t.signature) continue;
    if (!tokenFits(stack, id))
      throw std::runtime_error("token " + std::to_string(k) + ": '" + t.text + "' does not fit here");
    stack.resize(stack.size() - static_cast<size_t>(t.arity));
    stack.push_back(t.signature->output);
  }
  return stack;
}

bool tokenFits(const std::vector<ValueType>& stack, int token) {
  const auto& vocab = programTokens();
  if (token < 0 || token >= static_cast<int>(vocab.size())) return false;
  if (token == kEndToken) {
    if (stack.size() != 1) return false;
    const ValueType t = stack.front();
    return t != ValueType::ObjectSet && t != ValueType::Object && t != ValueType::Relation;
  }
  const ProgramToken& t = vocab[static_cast<size_t>(token)];
  if (!t.signature || stack.size() < static_cast<size_t>(t.arity)) return false;
  const size_t first = stack.size() - static_cast<size_t>(t.arity);
  for (size_t a = 0; a < static_cast<size_t>(t.arity); ++a)
    if (stack[first + a] != t.signature->inputs[a]) return false;
  return true;
}

std::string tokensToString(const std::vector<int>& tokens) {
  const auto& vocab = programTokens();
  std::string out;
  for (int id : tokens) {
    if (!out.empty()) out += ' ';
    out += id >= 0 && id < static_cast<int>(vocab.size()) ? vocab[static_cast<size_t>(id)].text
                                                          : "<" + std::to_string(id) + ">";
  }
  return out;
}

}  // namespace vqa
