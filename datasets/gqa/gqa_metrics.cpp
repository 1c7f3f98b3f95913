// GQA's official metrics.
#include "datasets/gqa/gqa_metrics.h"

#include <algorithm>

#include "core/errors.h"
#include "datasets/json_file.h"

namespace vqa {
namespace {

double ratio(int a, int b) { return b ? static_cast<double>(a) / b : 0.0; }

// eval.py's step count: the program length without exist, "query: name" and "choose name" steps.
int stepCount(const GqaQuestion& q) {
  int n = 0;
  for (const auto& s : q.program.steps) {
    const bool skip = s.op == GqaOp::Exist || (s.op == GqaOp::Query && s.attribute == "name") ||
                      (s.op == GqaOp::Choose && s.attribute == "name");
    if (!skip) ++n;
  }
  return n;
}

nlohmann::json breakdown(const std::map<std::string, std::pair<int, int>>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = {{"accuracy", ratio(v.first, v.second)}, {"total", v.second}};
  return j;
}

}  // namespace

std::map<std::string, std::string> readGqaPredictions(const std::string& path) {
  const nlohmann::json root = readJsonFile(path);
  if (!root.is_array()) throw InputError(path, "", "predictions are a list of {questionId, prediction}");
  std::map<std::string, std::string> out;
  for (size_t k = 0; k < root.size(); ++k) {
    const auto& r = root[k];
    if (!r.is_object() || !r.contains("questionId") || !r.contains("prediction"))
      throw InputError(path, "prediction " + std::to_string(k), "needs 'questionId' and 'prediction'");
    const auto& id = r["questionId"];
    const std::string qid = id.is_string() ? id.get<std::string>()
                            : id.is_number_integer() ? id.dump()
                                                     : throw InputError(path, "prediction " + std::to_string(k),
                                                                        "'questionId' is not a string");
    if (!r["prediction"].is_string())
      throw InputError(path, "prediction " + std::to_string(k), "'prediction' is not a string");
    out[qid] = r["prediction"].get<std::string>();
  }
  return out;
}

std::map<std::string, GqaChoices> readGqaChoices(const std::string& path) {
  const nlohmann::json root = readJsonFile(path);
  if (!root.is_object()) throw InputError(path, "", "choices are an object of questionId -> {valid, plausible}");
  std::map<std::string, GqaChoices> out;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const auto& r = it.value();
    GqaChoices c;
    for (auto [key, list] : {std::pair{"valid", &c.valid}, std::pair{"plausible", &c.plausible}}) {
      if (!r.is_object() || !r.contains(key) || !r[key].is_array())
        throw InputError(path, "question " + excerpt(it.key()), std::string("missing list '") + key + "'");
      for (const auto& v : r[key]) {
        if (!v.is_string())
          throw InputError(path, "question " + excerpt(it.key()), std::string("'") + key + "' holds a non-string");
        list->push_back(v.get<std::string>());
      }
    }
    out.emplace(it.key(), std::move(c));
  }
  return out;
}

GqaScores scoreGqa(const std::vector<GqaQuestion>& questions, const std::map<std::string, std::string>& predictions,
                   const std::map<std::string, GqaChoices>* choices) {
  GqaScores s;
  std::map<std::string, const GqaQuestion*> byId;
  for (const auto& q : questions) byId[q.id] = &q;
  auto predictionOf = [&](const std::string& id) -> const std::string* {
    auto it = predictions.find(id);
    return it == predictions.end() ? nullptr : &it->second;
  };

  int consistencyQuestions = 0;
  double consistencySum = 0;
  int validCount = 0, plausibleCount = 0, choiceTotal = 0;
  std::map<std::string, std::map<std::string, int>> goldDist, predDist;

  for (const auto& q : questions) {
    if (!q.balanced) continue;
    const std::string* p = predictionOf(q.id);
    if (!p) ++s.missing_predictions;
    const std::string predicted = p ? *p : std::string();
    const bool correct = p && *p == q.answer;
    ++s.total;
    s.correct += correct;
    const bool open = q.structural == "query";
    (open ? s.open_total : s.binary_total)++;
    if (correct) (open ? s.open : s.binary) += 1;
    auto tally = [&](std::map<std::string, std::pair<int, int>>& m, const std::string& key) {
      m[key].first += correct;
      m[key].second += 1;
    };
    tally(s.per_structural, q.structural);
    tally(s.per_semantic, q.semantic_type);
    if (q.has_program && q.program_error.empty()) tally(s.per_steps, std::to_string(stepCount(q)));

    if (choices) {
      auto c = choices->find(q.id);
      if (c != choices->end()) {
        ++choiceTotal;
        // eval.py's belongs(): for a "Common" question both groups become {color, material, shape}.
        const bool common = q.detailed.find("Common") != std::string::npos;
        const std::vector<std::string> commonGroup{"color", "material", "shape"};
        auto belongs = [&](const std::vector<std::string>& group) {
          const auto& g = common ? commonGroup : group;
          return std::find(g.begin(), g.end(), predicted) != g.end();
        };
        validCount += belongs(c->second.valid);
        plausibleCount += belongs(c->second.plausible);
      }
    }
    if (q.has_global_group) {
      goldDist[q.global_group][q.answer] += 1;
      predDist[q.global_group][predicted] += 1;
    }
    if (correct) {
      int n = 0;
      double sum = 0;
      for (const auto& eid : q.entailed) {
        if (eid == q.id) continue;
        auto e = byId.find(eid);
        const std::string* ep = predictionOf(eid);
        if (e == byId.end() || !ep) {
          ++s.entailed_missing;
          continue;
        }
        sum += *ep == e->second->answer;
        ++n;
      }
      if (n > 0) {
        consistencySum += sum / n;
        ++consistencyQuestions;
      }
    }
  }
  s.accuracy = ratio(s.correct, s.total);
  s.binary = s.binary_total ? s.binary / s.binary_total : 0;
  s.open = s.open_total ? s.open / s.open_total : 0;
  s.consistency_questions = consistencyQuestions;
  // eval.py averages an empty list to 0; consistency_questions says how many questions the figure rests on.
  s.consistency = consistencyQuestions ? consistencySum / consistencyQuestions : 0.0;
  if (choices) {
    s.validity = ratio(validCount, choiceTotal);
    s.plausibility = ratio(plausibleCount, choiceTotal);
  }
  // Chi-square between gold and predicted answer histograms per global group, weighted by group size.
  double sumScore = 0, sumOverall = 0;
  for (const auto& [group, gold] : goldDist) {
    double score = 0, overall = 0;
    for (const auto& [answer, e] : gold) {
      const auto& pred = predDist[group];
      auto o = pred.find(answer);
      const double observed = o == pred.end() ? 0 : o->second;
      score += (observed - e) * (observed - e) / e;
      overall += e;
    }
    sumScore += score * overall;
    sumOverall += overall;
  }
  s.distribution = sumOverall > 0 ? sumScore / sumOverall / 100.0 : 0.0;
  return s;
}

nlohmann::json GqaScores::toJson() const {
  nlohmann::json j{{"total", total},
                   {"correct", correct},
                   {"accuracy", accuracy},
                   {"binary", binary},
                   {"open", open},
                   {"binary_total", binary_total},
                   {"open_total", open_total},
                   {"consistency", consistency},
                   {"consistency_questions", consistency_questions},
                   {"entailed_missing", entailed_missing},
                   {"validity", validity ? nlohmann::json(*validity) : nlohmann::json()},
                   {"plausibility", plausibility ? nlohmann::json(*plausibility) : nlohmann::json()},
                   {"distribution", distribution},
                   {"missing_predictions", missing_predictions},
                   {"per_structural", breakdown(per_structural)},
                   {"per_semantic", breakdown(per_semantic)},
                   {"per_steps", breakdown(per_steps)}};
  return j;
}

}  // namespace vqa
