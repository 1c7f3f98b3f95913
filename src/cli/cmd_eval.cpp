// `vqa eval` in oracle mode: ground-truth scenes and programs through the symbolic executor, for CLEVR
// (scenes + questions files) and GQA (questions + scene graphs), with --json results.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "cli/results.h"
#include "core/errors.h"
#include "core/progress.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/gqa/gqa_io.h"
#include "datasets/gqa/gqa_metrics.h"
#include "datasets/json_file.h"
#include "executor/symbolic_executor.h"

namespace vqa::cli {
namespace {

struct EvalOptions {
  std::string dataset = "clevr";
  std::vector<std::string> scenes, questions;  // CLEVR: several files; questions find scenes by split + image
  std::string scene_graphs;
  std::string scene_mode, program_mode, executor = "symbolic";
  std::string json, predictions;
  bool write_json = false, write_predictions = false;  // the option was given (an empty path is refused)
  bool skip_missing_scenes = false;
};

// Scenes of several files, found by (split, image_index); a question without a split matches any split.
class SceneIndex {
 public:
  // Refuses a (split, image_index) that an earlier file already holds.
  void add(const ClevrScenes& file, const std::string& path) {
    const std::string fileSplit =
        file.info.is_object() && file.info.contains("split") && file.info["split"].is_string()
            ? file.info["split"].get<std::string>()
            : "";
    for (size_t k = 0; k < file.scenes.size(); ++k) {
      const SceneGraph& s = file.scenes[k];
      const std::string split = !s.split.empty() ? s.split : fileSplit;
      const auto [it, added] = by_key_.emplace(std::pair{split, s.image_index}, Entry{&s, path});
      if (!added)
        throw InputError(path, "scene " + std::to_string(k),
                         "image_index " + std::to_string(s.image_index) + " of split " + quotedValue(split) +
                             " is already in " + it->second.path);
      by_index_.emplace(s.image_index, &s);
    }
  }
  const SceneGraph* find(const std::string& split, int image_index) const {
    if (!split.empty()) {
      auto it = by_key_.find({split, image_index});
      return it == by_key_.end() ? nullptr : it->second.scene;
    }
    auto range = by_index_.equal_range(image_index);
    return range.first != range.second && std::next(range.first) == range.second ? range.first->second : nullptr;
  }

 private:
  struct Entry {
    const SceneGraph* scene;
    std::string path;
  };
  std::map<std::pair<std::string, int>, Entry> by_key_;
  std::multimap<int, const SceneGraph*> by_index_;
};

void evalClevr(const EvalOptions& o, OutputFiles& outputs) {
  if (o.scenes.empty()) throw InputError("vqa eval: --scenes FILE is needed for CLEVR");
  std::vector<ClevrScenes> sceneFiles;
  for (const auto& path : o.scenes) sceneFiles.push_back(readClevrScenes(path));
  SceneIndex index;
  for (size_t f = 0; f < sceneFiles.size(); ++f) index.add(sceneFiles[f], o.scenes[f]);
  std::string sceneNames;
  for (const auto& path : o.scenes) sceneNames += (sceneNames.empty() ? "" : ", ") + path;

  // Read everything and refuse bad input before running anything.
  struct Item {
    const ClevrQuestion* question;
    const SceneGraph* scene;
  };
  std::vector<ClevrQuestions> questionFiles;
  for (const auto& path : o.questions) questionFiles.push_back(readClevrQuestions(path));
  std::vector<Item> items;
  for (size_t f = 0; f < questionFiles.size(); ++f) {
    const std::string& path = o.questions[f];
    const std::string fileSplit = questionFiles[f].info.value("split", "");
    for (size_t k = 0; k < questionFiles[f].questions.size(); ++k) {
      const auto& q = questionFiles[f].questions[k];
      const std::string record = clevrQuestionLabel(k, q);
      if (!q.has_program) throw InputError(path, record, "no program (oracle program mode needs programs)");
      if (!q.program_error.empty()) throw InputError(path, record, q.program_error);
      try {
        validateProgram(q.program);
      } catch (const std::exception& e) {
        throw InputError::in(path, record, e);
      }
      if (!q.has_answer) throw InputError(path, record, "no answer to score against");
      const SceneGraph* scene = index.find(!q.split.empty() ? q.split : fileSplit, q.image_index);
      if (!scene)
        throw InputError(path, record,
                         "image " + std::to_string(q.image_index) +
                             (q.image_filename.empty() ? "" : " (" + excerpt(q.image_filename) + ")") +
                             " has no scene in " +
                             sceneNames);
      items.push_back({&q, scene});
    }
  }

  ClevrTally tally;
  Progress progress("eval", static_cast<int64_t>(items.size()), "questions");
  const ClevrExecutor executor;
  for (size_t k = 0; k < items.size(); ++k) {
    const ClevrQuestion& q = *items[k].question;
    const ExecutionResult r = executor.run(q.program, *items[k].scene);
    tally.add(q, r.ok ? r.answer : "", r.ok ? "" : r.error, static_cast<int>(k));
    progress.advance();
  }
  progress.finish();
  nlohmann::json out = tally.toJson();
  out["mode"] = {{"scene", "oracle"}, {"program", "oracle"}, {"executor", o.executor}};
  printClevrSummary(out);
  if (o.write_json) outputs.addJson("--json", o.json, out);
}

void evalGqa(const EvalOptions& o, OutputFiles& outputs) {
  if (o.scene_graphs.empty()) throw InputError("vqa eval: --scene-graphs FILE is needed for GQA");
  if (o.questions.size() != 1) throw InputError("vqa eval: GQA takes one --questions file");
  const std::string& questionsPath = o.questions.front();
  const auto questions = readGqaQuestions(questionsPath);
  const auto graphs = readGqaSceneGraphs(o.scene_graphs);
  GqaLexicon lexicon;
  std::vector<GqaQuestion> runnable;
  int skipped = 0;
  for (const auto& q : questions) {
    const std::string record = "question " + excerpt(q.id);
    if (!q.has_program) throw InputError(questionsPath, record, "no 'semantic' program");
    if (!q.program_error.empty()) throw InputError(questionsPath, record, q.program_error);
    if (!q.has_answer) throw InputError(questionsPath, record, "no answer to score against");
    lexicon.addFromProgram(q.program);
    if (!graphs.count(q.image_id)) {
      if (o.skip_missing_scenes) {
        ++skipped;
        continue;
      }
      throw InputError(questionsPath, record,
                       "image " + excerpt(q.image_id) + " has no scene graph in " + o.scene_graphs);
    }
    runnable.push_back(q);
  }
  std::map<std::string, std::string> predictions;
  nlohmann::json errors = nlohmann::json::array();
  const GqaExecutor executor(&lexicon);
  Progress progress("eval", static_cast<int64_t>(runnable.size()), "questions");
  for (const auto& q : runnable) {
    const ExecutionResult r = executor.run(q.program, graphs.at(q.image_id));
    predictions[q.id] = r.ok ? r.answer : "";
    if (!r.ok) errors.push_back({{"question_id", q.id}, {"error", r.error}});
    progress.advance();
  }
  progress.finish();
  const GqaScores scores = scoreGqa(runnable, predictions);
  nlohmann::json out = scores.toJson();
  nlohmann::json perType = nlohmann::json::object();
  for (const auto& [type, v] : scores.per_structural) perType[type] = v.second ? double(v.first) / v.second : 0.0;
  out["per_type"] = perType;
  out["errors"] = errors;
  out["skipped_no_scene_graph"] = skipped;
  out["mode"] = {{"scene", "oracle"}, {"program", "oracle"}, {"executor", o.executor}};
  if (o.write_predictions) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [id, p] : predictions) list.push_back({{"questionId", id}, {"prediction", p}});
    outputs.addJson("--predictions", o.predictions, list, 1);
  }
  if (o.write_json) outputs.addJson("--json", o.json, out);
  std::printf("GQA oracle eval: %d/%d correct (accuracy %.2f%%), binary %.2f%%, open %.2f%%, %zu could not run",
              scores.correct, scores.total, 100 * scores.accuracy, 100 * scores.binary, 100 * scores.open,
              errors.size());
  if (skipped) std::printf(", %d skipped (no scene graph)", skipped);
  std::printf("\n");
}

}  // namespace

static Registrar reg("eval", "Evaluate question answering (oracle scenes and programs through the symbolic executor)",
                     [](CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  app.add_option("--dataset", o->dataset, "clevr or gqa")->check(CLI::IsMember({"clevr", "gqa"}));
  app.add_option("--scenes", o->scenes, "CLEVR scenes file(s) (CLEVR_<split>_scenes.json)");
  app.add_option("--questions", o->questions, "CLEVR questions file(s), or one GQA questions file")->required();
  app.add_option("--scene-graphs", o->scene_graphs, "GQA scene graphs file");
  app.add_option("--scene", o->scene_mode, "where scenes come from: oracle (ground truth)")
      ->required()->check(CLI::IsMember({"oracle"}));
  app.add_option("--program", o->program_mode, "where programs come from: oracle (ground truth)")
      ->required()->check(CLI::IsMember({"oracle"}));
  app.add_option("--executor", o->executor, "symbolic")->check(CLI::IsMember({"symbolic"}));
  CLI::Option* json = app.add_option("--json", o->json, "write results as JSON to this file");
  CLI::Option* predictions =
      app.add_option("--predictions", o->predictions, "GQA: write [{questionId, prediction}] for score-gqa");
  app.add_flag("--skip-missing-scenes", o->skip_missing_scenes, "GQA: skip questions whose image has no scene graph");
  app.callback([o, json, predictions] {
    // Output paths are checked before any work; the outputs are then written together or not at all.
    o->write_json = json->count() > 0;
    o->write_predictions = predictions->count() > 0;
    if (o->write_json) checkOutputFile("--json", o->json);
    if (o->write_predictions) {
      if (o->dataset != "gqa") throw std::runtime_error("--predictions is written for GQA only (--dataset gqa)");
      checkOutputFile("--predictions", o->predictions);
      if (o->write_json && std::filesystem::absolute(o->json) == std::filesystem::absolute(o->predictions))
        throw std::runtime_error("--json and --predictions name the same file " + o->json);
    }
    OutputFiles outputs;
    if (o->dataset == "gqa") evalGqa(*o, outputs);
    else evalClevr(*o, outputs);
    outputs.commit();
  });
});

}  // namespace vqa::cli
