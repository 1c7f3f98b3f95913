// GQA programs <-> token sequences, and the decoding grammar (see gqa_program_codec.h).
#include "program/gqa_program_codec.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace vqa::program {

const char* const kGqaEnd = "<end>";
const char* const kGqaSep = "<sep>";
const char* const kGqaAlt = "<alt>";
const char* const kGqaNot = "<not>";
namespace {
const char* const kSubject = "<s>";
const char* const kObject = "<o>";
const std::string kAttributePrefix = "<attr:";
const std::string kDependencyPrefix = "<dep";

constexpr int kOps = static_cast<int>(GqaOp::Common) + 1;

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string joinWords(const std::vector<std::string>& ws, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) out += (i > begin ? " " : "") + ws[i];
  return out;
}

bool hasAttribute(GqaOp op) {
  switch (op) {
    case GqaOp::Filter: case GqaOp::Verify: case GqaOp::Choose: case GqaOp::Compare: case GqaOp::Query:
    case GqaOp::Same: case GqaOp::Different:
      return true;
    default:
      return false;
  }
}
// The fewest and most dependencies of an operation (parseGqaStep's arity).
std::pair<int, int> dependencyCount(GqaOp op) {
  switch (op) {
    case GqaOp::Select: return {0, 0};
    case GqaOp::And: case GqaOp::Or: case GqaOp::Common: case GqaOp::Compare: return {2, 2};
    case GqaOp::Same: case GqaOp::Different: return {1, 2};
    default: return {1, 1};
  }
}

// choose rel compares two relations; choose may offer more options (GQA's files hold two).
int maxOptions(GqaOp op) { return op == GqaOp::ChooseRel ? 2 : 4; }

bool attributeMayBeEmpty(GqaOp op) { return op == GqaOp::Filter || op == GqaOp::Verify || op == GqaOp::Choose; }

}  // namespace

const std::vector<std::string>& gqaOperationTokens() {
  static const std::vector<std::string> tokens = [] {
    std::vector<std::string> t;
    for (int k = 0; k < kOps; ++k) {
      std::string name = gqaOpName(static_cast<GqaOp>(k));
      for (char& c : name)
        if (c == ' ') c = '_';
      t.push_back("<" + name + ">");
    }
    return t;
  }();
  return tokens;
}

std::string gqaAttributeToken(const std::string& type) { return kAttributePrefix + type + ">"; }
std::string gqaDependencyToken(int offset) { return kDependencyPrefix + std::to_string(offset) + ">"; }

std::vector<std::string> gqaProgramTokens(const GqaProgram& program) {
  std::vector<std::string> out;
  for (size_t i = 0; i < program.steps.size(); ++i) {
    const GqaStep& s = program.steps[i];
    const std::string where = "step " + std::to_string(i) + ": ";
    auto field = [&](const std::string& text) {
      const auto ws = words(text);
      if (ws.empty() || ws.size() > static_cast<size_t>(kGqaMaxFieldWords))
        throw std::runtime_error(where + "a field of " + std::to_string(ws.size()) + " words (1-" +
                                 std::to_string(kGqaMaxFieldWords) + " can be written)");
      out.insert(out.end(), ws.begin(), ws.end());
    };
    auto alternatives = [&](std::vector<std::string> options) {
      std::sort(options.begin(), options.end());  // the canonical order (see the header)
      for (size_t k = 0; k < options.size(); ++k) {
        if (k) out.push_back(kGqaAlt);
        field(options[k]);
      }
      out.push_back(kGqaSep);
    };
    out.push_back(gqaOperationTokens()[static_cast<size_t>(s.op)]);
    if (hasAttribute(s.op)) out.push_back(gqaAttributeToken(s.attribute));
    switch (s.op) {
      case GqaOp::Select:
        field(s.name);
        out.push_back(kGqaSep);
        break;
      case GqaOp::Relate: case GqaOp::VerifyRel: case GqaOp::ChooseRel:
        field(s.name);
        out.push_back(kGqaSep);
        if (s.op == GqaOp::ChooseRel) alternatives(s.relations);
        else {
          field(s.relations.at(0));
          out.push_back(kGqaSep);
        }
        out.push_back(s.subject ? kSubject : kObject);
        break;
      case GqaOp::Filter: case GqaOp::Verify:
        if (s.negated) out.push_back(kGqaNot);
        field(s.values.at(0));
        out.push_back(kGqaSep);
        break;
      case GqaOp::Choose:
        alternatives(s.values);
        break;
      default:
        break;
    }
    for (int d : s.dependencies) {
      const int offset = static_cast<int>(i) - d;
      if (offset < 1 || offset > kGqaMaxDependencyOffset)
        throw std::runtime_error(where + "dependency " + std::to_string(d) + " is not one of the " +
                                 std::to_string(kGqaMaxDependencyOffset) + " steps before it");
      out.push_back(gqaDependencyToken(offset));
    }
  }
  out.push_back(kGqaEnd);
  return out;
}

GqaTokenClass GqaGrammarState::classOf(const std::string& token, int* operation, int* offset) {
  if (token.size() < 2 || token[0] != '<') return GqaTokenClass::Word;
  if (token == kGqaEnd) return GqaTokenClass::End;
  if (token == kGqaSep) return GqaTokenClass::Sep;
  if (token == kGqaAlt) return GqaTokenClass::Alt;
  if (token == kGqaNot) return GqaTokenClass::Not;
  if (token == kSubject) return GqaTokenClass::Subject;
  if (token == kObject) return GqaTokenClass::Object;
  if (token.compare(0, kAttributePrefix.size(), kAttributePrefix) == 0 && token.back() == '>')
    return token.size() == kAttributePrefix.size() + 1 ? GqaTokenClass::NoAttribute : GqaTokenClass::Attribute;
  if (token.compare(0, kDependencyPrefix.size(), kDependencyPrefix) == 0 && token.back() == '>') {
    const std::string digits = token.substr(kDependencyPrefix.size(), token.size() - kDependencyPrefix.size() - 1);
    if (!digits.empty() && digits.size() <= 2 && digits.find_first_not_of("0123456789") == std::string::npos) {
      if (offset) *offset = std::stoi(digits);
      return GqaTokenClass::Dependency;
    }
  }
  const auto& ops = gqaOperationTokens();
  for (size_t k = 0; k < ops.size(); ++k)
    if (token == ops[k]) {
      if (operation) *operation = static_cast<int>(k);
      return GqaTokenClass::Operation;
    }
  return GqaTokenClass::Word;  // a word that happens to start with '<'
}

bool GqaGrammarState::advance(GqaTokenClass cls, int operation, int offset) {
  if (finished_) return false;
  auto beginStep = [&](int op) {
    if (op < 0 || op >= kOps || steps_ >= kGqaMaxSteps) return false;
    const GqaOp o = static_cast<GqaOp>(op);
    const auto [min_deps, max_deps] = dependencyCount(o);
    if (min_deps > steps_) return false;  // not enough earlier steps to depend on
    op_ = op;
    min_deps_ = min_deps;
    max_deps_ = max_deps;
    slots_.clear();
    if (hasAttribute(o)) slots_.push_back(Slot::Attribute);
    switch (o) {
      case GqaOp::Select: slots_.push_back(Slot::Words); break;
      case GqaOp::Relate: case GqaOp::VerifyRel: slots_.insert(slots_.end(), {Slot::Words, Slot::Words, Slot::Role}); break;
      case GqaOp::ChooseRel: slots_.insert(slots_.end(), {Slot::Words, Slot::Alternatives, Slot::Role}); break;
      case GqaOp::Filter: case GqaOp::Verify: slots_.insert(slots_.end(), {Slot::Negation, Slot::Words}); break;
      case GqaOp::Choose: slots_.push_back(Slot::Alternatives); break;
      default: break;
    }
    slots_.push_back(Slot::Dependencies);
    slot_ = 0;
    field_words_ = alternatives_ = dependencies_ = 0;
    return true;
  };
  if (op_ < 0) {  // between steps
    if (cls == GqaTokenClass::Operation) return beginStep(operation);
    if (cls == GqaTokenClass::End && steps_ > 0) return finished_ = true;
    return false;
  }
  const Slot slot = slots_[slot_];
  const GqaOp op = static_cast<GqaOp>(op_);
  switch (slot) {
    case Slot::Attribute:
      if (cls == GqaTokenClass::Attribute || (cls == GqaTokenClass::NoAttribute && attributeMayBeEmpty(op))) {
        ++slot_;
        return true;
      }
      return false;
    case Slot::Negation:
      if (cls == GqaTokenClass::Not) {
        ++slot_;
        return true;
      }
      if (cls != GqaTokenClass::Word) return false;
      ++slot_;  // no negation: the word opens the value
      field_words_ = 1;
      return true;
    case Slot::Words: case Slot::Alternatives:
      if (cls == GqaTokenClass::Word) {
        if (field_words_ >= kGqaMaxFieldWords) return false;
        ++field_words_;
        return true;
      }
      if (field_words_ == 0) return false;
      if (cls == GqaTokenClass::Alt && slot == Slot::Alternatives && alternatives_ + 1 < maxOptions(op)) {
        ++alternatives_;
        field_words_ = 0;
        return true;
      }
      if (cls == GqaTokenClass::Sep && (slot == Slot::Words || alternatives_ >= 1)) {
        ++slot_;
        field_words_ = alternatives_ = 0;
        return true;
      }
      return false;
    case Slot::Role:
      if (cls != GqaTokenClass::Subject && cls != GqaTokenClass::Object) return false;
      ++slot_;
      return true;
    case Slot::Dependencies:
      if (cls == GqaTokenClass::Dependency && dependencies_ < max_deps_) {
        if (offset < 1 || offset > steps_ || offset > kGqaMaxDependencyOffset) return false;
        ++dependencies_;
        return true;
      }
      if (dependencies_ < min_deps_) return false;
      if (cls != GqaTokenClass::Operation && cls != GqaTokenClass::End) return false;
      {
        // The step is complete: the token begins the next one or ends the program.
        GqaGrammarState next = *this;
        next.op_ = -1;
        ++next.steps_;
        if (!next.advance(cls, operation, offset)) return false;
        *this = next;
      }
      return true;
  }
  return false;
}

void GqaGrammarState::advance(const std::string& token) {
  int operation = -1, offset = 0;
  const GqaTokenClass cls = classOf(token, &operation, &offset);
  if (!advance(cls, operation, offset))
    throw std::runtime_error("token '" + token + "' does not fit after " + std::to_string(steps_) + " steps");
}

int GqaGrammarState::tokensToFinish() const {
  if (finished_) return 0;
  if (op_ < 0) return steps_ > 0 ? 1 : 4;  // <end>, or the shortest program: <select> WORD <sep> <end>
  int n = 1;  // <end>
  for (size_t k = slot_; k < slots_.size(); ++k) {
    const bool open = k == slot_;
    switch (slots_[k]) {
      case Slot::Attribute: n += 1; break;
      case Slot::Negation: break;
      case Slot::Words: n += (open && field_words_ > 0) ? 1 : 2; break;
      case Slot::Alternatives: {
        int need = (open && field_words_ > 0) ? 0 : 1;     // a word of the current option
        if ((open ? alternatives_ : 0) < 1) need += 2;     // <alt> and a word of the second option
        n += need + 1;                                     // <sep>
        break;
      }
      case Slot::Role: n += 1; break;
      case Slot::Dependencies: n += std::max(0, min_deps_ - (open ? dependencies_ : 0)); break;
    }
  }
  return n;
}

bool GqaGrammarState::allows(GqaTokenClass cls, int budget, int operation, int offset) const {
  if (budget < 1) return false;
  GqaGrammarState next = *this;
  if (!next.advance(cls, operation, offset)) return false;
  return next.tokensToFinish() <= budget - 1;
}

GqaProgram gqaProgramFromTokens(const std::vector<std::string>& tokens) {
  GqaGrammarState state;
  GqaProgram program;
  // Per step: the tokens after its operation token.
  std::vector<std::pair<int, std::vector<std::string>>> steps;
  for (const std::string& token : tokens) {
    state.advance(token);
    int operation = -1;
    const GqaTokenClass cls = GqaGrammarState::classOf(token, &operation);
    if (cls == GqaTokenClass::End) break;
    if (cls == GqaTokenClass::Operation) steps.push_back({operation, {}});  // operations only begin steps
    else steps.back().second.push_back(token);
  }
  if (!state.finished()) throw std::runtime_error("the program does not end with " + std::string(kGqaEnd));
  for (size_t i = 0; i < steps.size(); ++i) {
    const GqaOp op = static_cast<GqaOp>(steps[i].first);
    const std::vector<std::string>& rest = steps[i].second;
    std::string attribute;
    std::vector<std::vector<std::string>> fields(1);  // word fields; <alt> separates options within one
    std::vector<std::string> separators;              // "," between fields, "|" between options
    std::vector<int> deps;
    bool negated = false;
    std::string role;
    for (const std::string& t : rest) {
      int offset = 0;
      switch (GqaGrammarState::classOf(t, nullptr, &offset)) {
        case GqaTokenClass::Attribute: case GqaTokenClass::NoAttribute:
          attribute = t.substr(kAttributePrefix.size(), t.size() - kAttributePrefix.size() - 1);
          break;
        case GqaTokenClass::Not: negated = true; break;
        case GqaTokenClass::Word: fields.back().push_back(t); break;
        case GqaTokenClass::Alt: fields.back().push_back("|"); break;
        case GqaTokenClass::Sep: fields.emplace_back(); break;
        case GqaTokenClass::Subject: role = "s"; break;
        case GqaTokenClass::Object: role = "o"; break;
        case GqaTokenClass::Dependency: deps.push_back(static_cast<int>(i) - offset); break;
        default: break;
      }
    }
    // A field's text: its words joined by spaces, options by '|'.
    auto text = [&](size_t k) {
      std::string out;
      const auto& f = fields.at(k);
      for (size_t j = 0; j < f.size(); ++j) {
        if (f[j] == "|") out += "|";
        else out += (j > 0 && f[j - 1] != "|" ? " " : "") + f[j];
      }
      return out;
    };
    std::string operation = gqaOpName(op), argument;
    switch (op) {
      case GqaOp::Select: argument = text(0); break;
      case GqaOp::Relate: case GqaOp::VerifyRel: case GqaOp::ChooseRel:
        argument = text(0) + "," + text(1) + "," + role;
        break;
      case GqaOp::Filter: case GqaOp::Verify:
        if (!attribute.empty()) operation += " " + attribute;
        argument = negated ? "not(" + text(0) + ")" : text(0);
        break;
      case GqaOp::Choose:
        if (!attribute.empty()) operation += " " + attribute;
        argument = text(0);
        break;
      case GqaOp::Compare: operation = "choose " + attribute; break;
      case GqaOp::Query: argument = attribute; break;
      case GqaOp::Same: case GqaOp::Different: operation += " " + attribute; break;
      case GqaOp::Exist: argument = "?"; break;
      default: break;
    }
    try {
      program.steps.push_back(parseGqaStep(operation, argument, deps));
    } catch (const std::exception& e) {
      throw std::runtime_error("step " + std::to_string(i) + ": " + e.what());
    }
    program.order.push_back(static_cast<int>(i));  // dependencies point back: the written order runs
  }
  return program;
}

std::string gqaTokensToString(const std::vector<std::string>& tokens) { return joinWords(tokens, 0, tokens.size()); }

}  // namespace vqa::program
