// CLEVR result tallies.
#include "cli/results.h"

#include <cstdio>

namespace vqa::cli {

std::string clevrQuestionType(const Program& program) {
  if (program.nodes.empty()) return "other";  // a question without a program (e.g. a test split)
  const std::string& fn = program.nodes.back().function;
  if (fn == "exist") return "exist";
  if (fn == "count") return "count";
  if (fn == "equal_integer" || fn == "less_than" || fn == "greater_than") return "compare_number";
  if (fn.rfind("query_", 0) == 0) return "query_attribute";
  if (fn.rfind("equal_", 0) == 0) return "compare_attribute";
  return "other";
}

void ClevrTally::add(const ClevrQuestion& q, const std::string& predicted, const std::string& error, int position) {
  const bool correct = error.empty() && predicted == q.answer;
  for (Count* c : {&all_, &per_type_[clevrQuestionType(q.program)], &per_family_[q.question_family_index]}) {
    c->total += 1;
    c->correct += correct;
  }
  if (!error.empty())
    errors_.push_back({{"question", position}, {"question_index", q.question_index}, {"error", error}});
}

nlohmann::json ClevrTally::toJson() const {
  auto acc = [](const Count& c) { return c.total ? double(c.correct) / c.total : 0.0; };
  nlohmann::json perType = nlohmann::json::object(), perTypeTotal = nlohmann::json::object();
  for (const char* t : {"exist", "count", "compare_number", "query_attribute", "compare_attribute"}) {
    auto it = per_type_.find(t);
    perType[t] = it == per_type_.end() ? nlohmann::json() : nlohmann::json(acc(it->second));
    perTypeTotal[t] = it == per_type_.end() ? 0 : it->second.total;
  }
  nlohmann::json perFamily = nlohmann::json::object();
  for (const auto& [f, c] : per_family_) perFamily[std::to_string(f)] = acc(c);
  return {{"total", all_.total},   {"correct", all_.correct},           {"accuracy", acc(all_)},
          {"per_type", perType},   {"per_type_total", perTypeTotal},    {"per_family", perFamily},
          {"errors", errors_}};
}

void printClevrSummary(const nlohmann::json& r) {
  std::printf("CLEVR eval: %d/%d correct (accuracy %.2f%%), %zu could not run\n", r["correct"].get<int>(),
              r["total"].get<int>(), 100 * r["accuracy"].get<double>(), r["errors"].size());
  std::printf("| type | accuracy |\n|---|---|\n");
  for (const auto& [type, a] : r["per_type"].items())
    if (!a.is_null()) std::printf("| %s | %.2f%% |\n", type.c_str(), 100 * a.get<double>());
}

}  // namespace vqa::cli
