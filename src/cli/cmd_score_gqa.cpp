// `vqa score-gqa`: GQA's official metrics for a predictions file.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "datasets/gqa/gqa_metrics.h"
#include "datasets/json_file.h"

namespace vqa::cli {
namespace {

struct ScoreOptions {
  std::string predictions, questions, choices, json;
  bool write_json = false;
};

void printScores(const GqaScores& s) {
  auto pct = [](const std::optional<double>& v) {
    if (!v) return std::string("n/a");
    char text[32];
    std::snprintf(text, sizeof text, "%.2f%%", 100 * *v);
    return std::string(text);
  };
  std::printf("| metric | value |\n|---|---|\n");
  std::printf("| accuracy | %.2f%% (%d/%d) |\n", 100 * s.accuracy, s.correct, s.total);
  std::printf("| binary | %.2f%% (%d) |\n| open | %.2f%% (%d) |\n", 100 * s.binary, s.binary_total, 100 * s.open,
              s.open_total);
  std::printf("| consistency | %s (%d questions) |\n", pct(s.consistency).c_str(), s.consistency_questions);
  std::printf("| validity | %s |\n| plausibility | %s |\n", pct(s.validity).c_str(), pct(s.plausibility).c_str());
  std::printf("| distribution | %.4f |\n", s.distribution);
  if (s.missing_predictions) std::printf("(%d balanced questions had no prediction and count as wrong)\n", s.missing_predictions);
  if (s.entailed_missing)
    std::printf("(%d entailed questions without a question or prediction were left out of consistency)\n",
                s.entailed_missing);
}

}  // namespace

static Registrar reg("score-gqa", "GQA's official metrics (accuracy, binary, open, consistency, validity, plausibility, distribution)",
                     [](CLI::App& app) {
  auto o = std::make_shared<ScoreOptions>();
  app.add_option("--predictions", o->predictions, "[{\"questionId\", \"prediction\"}] file")->required();
  app.add_option("--questions", o->questions, "GQA questions file (all questions, for consistency)")->required();
  app.add_option("--choices", o->choices, "GQA choices file, for validity and plausibility");
  CLI::Option* json = app.add_option("--json", o->json, "write results as JSON to this file");
  app.callback([o, json] {
    o->write_json = json->count() > 0;
    if (o->write_json) checkOutputFile("--json", o->json);
    const auto predictions = readGqaPredictions(o->predictions);
    const auto questions = readGqaQuestions(o->questions);
    std::map<std::string, GqaChoices> choices;
    if (!o->choices.empty()) choices = readGqaChoices(o->choices);
    const GqaScores s = scoreGqa(questions, predictions, o->choices.empty() ? nullptr : &choices);
    printScores(s);
    if (o->write_json) {
      OutputFiles outputs;
      outputs.addJson("--json", o->json, s.toJson());
      outputs.commit();
    }
  });
});

}  // namespace vqa::cli
