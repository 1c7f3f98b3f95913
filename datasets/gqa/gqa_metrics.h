// GQA's official metrics, computed as GQA's eval.py defines them: accuracy (balanced questions only),
// binary/open accuracy, consistency over entailed questions, validity and plausibility (with a choices
// file), and the answer-distribution chi-square per global group.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/gqa/gqa_io.h"

namespace vqa {

struct GqaChoices {
  std::vector<std::string> valid, plausible;
};

struct GqaScores {
  int total = 0;    // balanced questions scored
  int correct = 0;
  double accuracy = 0, binary = 0, open = 0;
  int binary_total = 0, open_total = 0;
  double consistency = 0;              // as eval.py: 0 when no question qualifies (see consistency_questions)
  int consistency_questions = 0;      // correct questions with at least one scored entailed question
  int entailed_missing = 0;           // entailed ids with no question or no prediction (skipped)
  std::optional<double> validity, plausibility;  // only with a choices file
  double distribution = 0;            // chi-square / 100, lower is better
  std::map<std::string, std::pair<int, int>> per_structural, per_semantic, per_steps;  // key -> (correct, total)
  int missing_predictions = 0;        // balanced questions without a prediction (scored wrong)

  nlohmann::json toJson() const;
};

// Reads [{"questionId", "prediction"}, ...]; throws InputError naming the record on bad entries.
std::map<std::string, std::string> readGqaPredictions(const std::string& path);
// Reads {qid: {"valid": [...], "plausible": [...]}}.
std::map<std::string, GqaChoices> readGqaChoices(const std::string& path);

GqaScores scoreGqa(const std::vector<GqaQuestion>& questions, const std::map<std::string, std::string>& predictions,
                   const std::map<std::string, GqaChoices>* choices = nullptr);

}  // namespace vqa
