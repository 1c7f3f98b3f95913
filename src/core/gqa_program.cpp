// Parser for GQA's operation/argument strings.
#include "core/gqa_program.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/errors.h"
#include "core/program.h"

namespace vqa {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t p = s.find(sep, start);
    out.push_back(trim(s.substr(start, p == std::string::npos ? std::string::npos : p - start)));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}

// Splits "body (id1,id2)" into body and grounding; "(-)" marks an absent object.
std::string takeGrounding(const std::string& arg, GqaStep& step) {
  const std::string a = trim(arg);
  if (a.empty() || a.back() != ')') return a;
  const size_t open = a.rfind(" (");
  if (open == std::string::npos) return a;
  const std::string ids = a.substr(open + 2, a.size() - open - 3);
  if (trim(ids) == "-") step.absent = true;
  else
    for (const auto& id : split(ids, ','))
      if (!id.empty()) step.object_ids.push_back(id);
  return trim(a.substr(0, open));
}

// "name,rel,s" (relate, verify rel) or "name,rel1|rel2,s" (choose rel).
void parseRelation(const std::string& body, GqaStep& step) {
  const size_t first = body.find(',');
  const size_t last = body.rfind(',');
  if (first == std::string::npos || first == last)
    throw std::runtime_error("relation argument " + quotedValue(body) + " is not 'name,relation,s|o'");
  step.name = trim(body.substr(0, first));
  const std::string rel = trim(body.substr(first + 1, last - first - 1));
  const std::string role = trim(body.substr(last + 1));
  if (role != "s" && role != "o") throw std::runtime_error("relation role " + quotedValue(role) + " is neither 's' nor 'o'");
  step.subject = role == "s";
  step.relations = step.op == GqaOp::ChooseRel ? split(rel, '|') : std::vector<std::string>{rel};
  for (const auto& r : step.relations)
    if (r.empty()) throw std::runtime_error("empty relation in " + quotedValue(body));
  if (step.op == GqaOp::ChooseRel && step.relations.size() != 2)
    throw std::runtime_error("choose rel needs two relations, got " + quotedValue(rel));
  if (step.name.empty()) throw std::runtime_error("empty object name in " + quotedValue(body));
}

void parseValue(const std::string& arg, GqaStep& step) {
  std::string v = trim(arg);
  if (v.size() > 5 && v.compare(0, 4, "not(") == 0 && v.back() == ')') {
    step.negated = true;
    v = trim(v.substr(4, v.size() - 5));
  }
  if (v.empty()) throw std::runtime_error("missing value");
  step.values = {v};
}

struct Arity {
  size_t min, max;
};

Arity arityOf(GqaOp op) {
  switch (op) {
    case GqaOp::Select: return {0, 0};
    case GqaOp::And: case GqaOp::Or: case GqaOp::Common: case GqaOp::Compare: return {2, 2};
    case GqaOp::Same: case GqaOp::Different: return {1, 2};
    default: return {1, 1};
  }
}

}  // namespace

const std::string& gqaOpName(GqaOp op) {
  static const std::string names[] = {"select", "relate", "filter", "verify", "verify rel", "choose", "choose rel",
                                      "compare", "query", "exist", "and", "or", "same", "different", "common"};
  return names[static_cast<int>(op)];
}

GqaStep parseGqaStep(const std::string& operation, const std::string& argument, const std::vector<int>& deps) {
  GqaStep step;
  step.operation = operation;
  step.argument = argument;
  step.dependencies = deps;
  const std::string op = trim(operation);
  const size_t space = op.find(' ');
  const std::string head = op.substr(0, space);
  const std::string rest = space == std::string::npos ? "" : trim(op.substr(space + 1));

  if (head == "select") {
    step.op = GqaOp::Select;
    step.name = takeGrounding(argument, step);
    if (step.name.empty()) throw std::runtime_error("select names no object");
  } else if (head == "relate") {
    step.op = GqaOp::Relate;
    parseRelation(takeGrounding(argument, step), step);
  } else if ((head == "verify" || head == "choose") && rest == "rel") {
    step.op = head == "verify" ? GqaOp::VerifyRel : GqaOp::ChooseRel;
    parseRelation(takeGrounding(argument, step), step);
  } else if (head == "filter" || head == "verify") {
    step.op = head == "filter" ? GqaOp::Filter : GqaOp::Verify;
    step.attribute = rest;
    parseValue(argument, step);
  } else if (head == "choose") {
    step.attribute = rest;
    if (deps.size() == 2) {
      step.op = GqaOp::Compare;  // "choose healthier": which of two objects is more so
      if (rest.empty()) throw std::runtime_error("comparative choose without a comparative");
    } else {
      step.op = GqaOp::Choose;
      step.values = split(argument, '|');
      if (step.values.size() < 2) throw std::runtime_error("choose needs options 'a|b', got " + quotedValue(argument));
      for (const auto& v : step.values)
        if (v.empty()) throw std::runtime_error("empty option in " + quotedValue(argument));
    }
  } else if (head == "query") {
    step.op = GqaOp::Query;
    step.attribute = trim(argument);
    if (step.attribute.empty()) throw std::runtime_error("query names no attribute");
  } else if (head == "exist") {
    step.op = GqaOp::Exist;
  } else if (head == "and" || head == "or") {
    step.op = head == "and" ? GqaOp::And : GqaOp::Or;
  } else if (head == "same" || head == "different") {
    step.op = head == "same" ? GqaOp::Same : GqaOp::Different;
    step.attribute = rest.empty() ? trim(argument) : rest;
    if (step.attribute.empty()) throw std::runtime_error(head + " names no attribute");
  } else if (head == "common") {
    step.op = GqaOp::Common;
  } else {
    throw std::runtime_error("unknown operation " + quotedValue(operation));
  }
  const Arity a = arityOf(step.op);
  if (deps.size() < a.min || deps.size() > a.max)
    throw std::runtime_error(quotedValue(operation) + " takes " + std::to_string(a.min) +
                             (a.max != a.min ? "-" + std::to_string(a.max) : std::string()) + " dependencies, got " +
                             std::to_string(deps.size()));
  return step;
}

GqaProgram parseGqaProgram(const nlohmann::json& semantic) {
  if (!semantic.is_array()) throw std::runtime_error("'semantic' is not a list");
  if (semantic.empty()) throw std::runtime_error("'semantic' is empty");
  GqaProgram program;
  std::vector<std::vector<int>> deps;
  for (size_t i = 0; i < semantic.size(); ++i) {
    const auto& s = semantic[i];
    const std::string where = "step " + std::to_string(i) + ": ";
    if (!s.is_object()) throw std::runtime_error(where + "not an object");
    for (const char* key : {"operation", "argument", "dependencies"})
      if (!s.contains(key)) throw std::runtime_error(where + "missing '" + key + "'");
    if (!s["operation"].is_string() || !s["argument"].is_string())
      throw std::runtime_error(where + "'operation' and 'argument' must be strings");
    if (!s["dependencies"].is_array()) throw std::runtime_error(where + "'dependencies' is not a list");
    std::vector<int> d;
    for (const auto& x : s["dependencies"]) {
      try {
        d.push_back(jsonInt(x, "dependencies", 0, INT_MAX));
      } catch (const std::exception& e) {
        throw std::runtime_error(where + e.what());
      }
    }
    try {
      program.steps.push_back(parseGqaStep(s["operation"].get<std::string>(), s["argument"].get<std::string>(), d));
    } catch (const std::exception& e) {
      throw std::runtime_error(where + e.what());
    }
    deps.push_back(std::move(d));
  }
  program.order = topologicalOrder(deps);
  return program;
}

}  // namespace vqa
