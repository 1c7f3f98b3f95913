// `vqa eval` in oracle mode: ground-truth scenes and programs through the symbolic executor, for CLEVR
// (scenes + questions files) and GQA (questions + scene graphs), with --json results; for CLEVR also through
// the differentiable executor on one-hot scenes and programs (--executor soft), which must agree; and with
// --model, a trained engine's programs (CLEVR from scenes or pixels; GQA through the GQA soft executor).
#include <CLI/CLI.hpp>

#include <chrono>
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
#ifdef VQA_HAVE_SOFT_EXECUTOR
#include <ATen/core/grad_mode.h>

#include "executor/soft_executor.h"
#include "hopfield/outliers.h"
#include "hopfield/threads.h"
#endif
#ifdef VQA_HAVE_MODEL
#include "model/engine_model.h"
#include "model/gqa_model.h"
#include "model/pixel_answering.h"
#include "vision/image_io.h"
#include "model/qa_data.h"
#endif

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
  int batch_size = 256;  // soft executor: questions per batch
  int threads = 1;       // soft executor and model: torch (and OpenBLAS) threads
  int retry_samples = model::kDefaultRetrySamples;  // model: sampled programs tried where the greedy one cannot run
  std::string model, data_dir, split = "val";  // a trained model on a dataset folder
  bool held_out = false;  // GQA model: only the questions on the images it held out of training
  bool outliers = false;  // vision model: outlier statistics of the engine's attention blocks
  bool mirror_average = false;  // vision model: attributes also read from the mirrored image
};

struct ClevrItem {
  const ClevrQuestion* question;
  const SceneGraph* scene;
};

// The prediction for one question, or why there is none.
struct Prediction {
  std::string answer, error;
};

#ifdef VQA_HAVE_SOFT_EXECUTOR
// One-hot scenes and programs through the SoftExecutor in batches; the answer is the most probable one, and a
// question whose answer distribution puts less than half its mass on one answer has none.
std::vector<Prediction> runSoft(const std::vector<ClevrItem>& items, const EvalOptions& o, Progress& progress) {
  hopfield::set_compute_threads(o.threads);
  at::NoGradGuard no_grad;
  std::map<const SceneGraph*, int64_t> scene_slot;
  std::vector<SceneGraph> scenes;
  for (const auto& item : items)
    if (scene_slot.emplace(item.scene, static_cast<int64_t>(scenes.size())).second) scenes.push_back(*item.scene);
  const SoftScene all = SoftScene::fromSceneGraph(scenes);
  const SoftExecutor executor;
  std::vector<Prediction> out(items.size());
  for (size_t start = 0; start < items.size(); start += static_cast<size_t>(o.batch_size)) {
    const size_t end = std::min(items.size(), start + static_cast<size_t>(o.batch_size));
    std::vector<std::vector<int>> programs;
    std::vector<int64_t> slots;
    std::vector<size_t> positions;
    for (size_t k = start; k < end; ++k) {
      try {
        programs.push_back(toPostfix(resolveProgram(items[k].question->program)));
        slots.push_back(scene_slot.at(items[k].scene));
        positions.push_back(k);
      } catch (const std::exception& e) {
        out[k].error = e.what();
      }
    }
    if (!programs.empty()) {
      const at::Tensor index = at::tensor(at::ArrayRef<int64_t>(slots), at::TensorOptions().dtype(at::kLong));
      const SoftExecution r = executor.run(oneHotTokens(programs), selectScenes(all, index));
      const auto [best, best_index] = r.answer.max(1);
      auto p = best.accessor<float, 1>();
      auto i = best_index.accessor<int64_t, 1>();
      for (size_t b = 0; b < positions.size(); ++b) {
        const auto row = static_cast<int64_t>(b);
        Prediction& prediction = out[positions[b]];
        if (p[row] >= 0.5f) {
          prediction.answer = clevr::answers()[static_cast<size_t>(i[row])];
        } else {
          char why[96];
          std::snprintf(why, sizeof why, "the soft executor gives no answer (largest probability %.3g)", p[row]);
          prediction.error = why;
        }
      }
    }
    progress.advance(static_cast<int64_t>(end - start));
  }
  return out;
}
#endif

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
  using Item = ClevrItem;
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
  const auto started = std::chrono::steady_clock::now();
  std::vector<Prediction> predictions(items.size());
  if (o.executor == "soft") {
#ifdef VQA_HAVE_SOFT_EXECUTOR
    predictions = runSoft(items, o, progress);
#endif
  } else {
    const ClevrExecutor executor;
    for (size_t k = 0; k < items.size(); ++k) {
      const ExecutionResult r = executor.run(items[k].question->program, *items[k].scene);
      predictions[k] = r.ok ? Prediction{r.answer, ""} : Prediction{"", r.error};
      progress.advance();
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (size_t k = 0; k < items.size(); ++k)
    tally.add(*items[k].question, predictions[k].answer, predictions[k].error, static_cast<int>(k));
  progress.finish();
  nlohmann::json out = tally.toJson();
  out["mode"] = {{"scene", "oracle"}, {"program", "oracle"}, {"executor", o.executor}};
  if (o.executor == "soft") {
    out["mode"]["batch_size"] = o.batch_size;
    out["mode"]["threads"] = o.threads;
  }
  out["seconds"] = seconds;
  printClevrSummary(out);
  std::printf("%s executor: %zu questions in %.2f s (%.0f questions/s)\n", o.executor.c_str(), items.size(), seconds,
              seconds > 0 ? static_cast<double>(items.size()) / seconds : 0.0);
  if (o.write_json) outputs.addJson("--json", o.json, out);
}

#ifdef VQA_HAVE_MODEL
// A trained model on a dataset folder: programs from the model, run with the exact executor on the
// ground-truth scenes; accuracy per type and family, and program exact-match where the data has programs.
void evalPixels(const EvalOptions& o, model::EngineModel& engine, OutputFiles& outputs);

void evalModel(const EvalOptions& o, OutputFiles& outputs) {
  hopfield::set_compute_threads(o.threads);
  model::LoadedEngineModel loaded = model::loadEngineModel(o.model);
  if (loaded.model->vision && o.scene_mode != "oracle") return evalPixels(o, *loaded.model, outputs);
  if (o.outliers) throw std::runtime_error("--outliers: goes with a model evaluated from images (--scene vision)");
  if (o.mirror_average) throw std::runtime_error("--mirror-average: goes with a model evaluated from images (--scene vision)");
  if (o.scene_mode == "vision")
    throw std::runtime_error(o.model + ": an oracle-scene model has no scene parser (--scene vision needs one)");
  if (!o.questions.empty() || !o.scenes.empty())
    throw std::runtime_error("--questions and --scenes go with a vision model (an oracle-scene model reads --data DIR)");
  const model::QaDataset data = model::openQaDataset(o.data_dir, o.split);
  std::vector<std::string> texts;
  std::vector<const SceneGraph*> scenes;
  for (size_t k = 0; k < data.questions.size(); ++k) {
    texts.push_back(data.questions[k].question);
    scenes.push_back(&data.scenes[data.scene_of[k]]);
  }
  Progress progress("eval", static_cast<int64_t>(texts.size()), "questions");
  const auto started = std::chrono::steady_clock::now();
  std::vector<model::AnsweredQuestion> answers;
  const size_t chunk = static_cast<size_t>(std::max(1, o.batch_size));
  for (size_t start = 0; start < texts.size(); start += chunk) {
    const size_t end = std::min(texts.size(), start + chunk);
    auto part = model::answerWithScenes(*loaded.model, {texts.begin() + start, texts.begin() + end},
                                        {scenes.begin() + start, scenes.begin() + end}, o.batch_size,
                                        o.retry_samples);
    for (auto& a : part) answers.push_back(std::move(a));
    progress.advance(static_cast<int64_t>(end - start));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  progress.finish();
  ClevrTally tally;
  int64_t with_program = 0, exact = 0;
  for (size_t k = 0; k < answers.size(); ++k) {
    const ClevrQuestion& q = data.questions[k];
    tally.add(q, answers[k].answer, answers[k].error, static_cast<int>(k));
    if (q.has_program && q.program_error.empty()) {
      ++with_program;
      try {
        if (toPostfix(resolveProgram(q.program)) == answers[k].program) ++exact;
      } catch (const std::exception&) {
        // a gold program outside the token vocabulary never matches
      }
    }
  }
  nlohmann::json out = tally.toJson();
  out["program_exact_match"] = with_program ? nlohmann::json(static_cast<double>(exact) / with_program) : nlohmann::json();
  out["mode"] = {{"scene", "oracle"}, {"program", "model"}, {"model", o.model}, {"split", o.split},
                 {"threads", o.threads}, {"batch_size", o.batch_size},
                 {"retry_samples", o.retry_samples}};
  out["seconds"] = seconds;
  out["questions_per_second"] = seconds > 0 ? static_cast<double>(answers.size()) / seconds : 0.0;
  printClevrSummary(out);
  if (with_program) std::printf("program exact-match: %.2f%% (%lld/%lld)\n", 100.0 * exact / with_program,
                                static_cast<long long>(exact), static_cast<long long>(with_program));
  std::printf("model: %zu questions in %.2f s (%.0f questions/s, %d threads)\n", answers.size(), seconds,
              seconds > 0 ? static_cast<double>(answers.size()) / seconds : 0.0, o.threads);
  if (o.write_json) outputs.addJson("--json", o.json, out);
  if (o.write_predictions) {
    nlohmann::json list = nlohmann::json::array();
    for (size_t k = 0; k < answers.size(); ++k) {
      const ClevrQuestion& q = data.questions[k];
      nlohmann::json p = {{"question_index", q.question_index}, {"question", q.question},
                          {"program", tokensToString(answers[k].program)}, {"prediction", answers[k].answer}};
      if (q.has_answer) p["answer"] = q.answer;
      if (!answers[k].error.empty()) p["error"] = answers[k].error;
      list.push_back(p);
    }
    outputs.addJson("--predictions", o.predictions, list, 1);
  }
}
#endif

#ifdef VQA_HAVE_MODEL
// A vision model on a dataset folder: pixels -> scenes -> programs -> the SoftExecutor's answers. Questions
// from DIR/questions (or --questions), images from DIR/images/<split>/; where a scene file exists (DIR/scenes
// or --scenes) the detections are scored too (eval-scenes' keys under "scenes").
void evalPixels(const EvalOptions& o, model::EngineModel& engine, OutputFiles& outputs) {
  const std::string questions_path =
      o.questions.empty() ? o.data_dir + "/questions/CLEVR_" + o.split + "_questions.json" : o.questions.front();
  const std::string scenes_path =
      o.scenes.empty() ? o.data_dir + "/scenes/CLEVR_" + o.split + "_scenes.json" : o.scenes.front();
  const ClevrQuestions questions = readClevrQuestions(questions_path);
  if (questions.questions.empty()) throw InputError(questions_path, "", "no questions");
  std::map<std::string, const SceneGraph*> truth_of;  // image filename -> annotated scene
  ClevrScenes scenes;
  const bool scored = !o.scenes.empty() || std::filesystem::exists(scenes_path);
  if (scored) {
    scenes = readClevrScenes(scenes_path);
    for (const auto& s : scenes.scenes) truth_of[s.image_filename] = &s;
  }
  // Images in the order the questions first name them; each question points at its image.
  std::vector<std::string> image_files;
  std::map<std::string, size_t> image_of_file;
  std::vector<size_t> image_of(questions.questions.size());
  for (size_t k = 0; k < questions.questions.size(); ++k) {
    const ClevrQuestion& q = questions.questions[k];
    if (q.image_filename.empty()) throw InputError(questions_path, clevrQuestionLabel(k, q), "no image_filename");
    auto [it, added] = image_of_file.emplace(q.image_filename, image_files.size());
    if (added) image_files.push_back(q.image_filename);
    image_of[k] = it->second;
  }
  const std::string image_dir = o.data_dir + "/images/" + o.split + "/";
  std::vector<std::vector<size_t>> questions_of(image_files.size());
  for (size_t k = 0; k < image_of.size(); ++k) questions_of[image_of[k]].push_back(k);

  hopfield::OutlierStats outliers;
  if (o.outliers) model::trackOutliers(engine, &outliers);
  if (o.mirror_average) engine.vision->setMirrorAverage(true);
  Progress progress("eval", static_cast<int64_t>(questions.questions.size()), "questions");
  const auto started = std::chrono::steady_clock::now();
  std::vector<model::PixelAnswer> answers(questions.questions.size());
  vision::SceneEvaluation scene_evaluation;
  constexpr size_t kImagesPerChunk = 64;  // images decoded and parsed together (bounded memory)
  for (size_t start = 0; start < image_files.size(); start += kImagesPerChunk) {
    const size_t end = std::min(image_files.size(), start + kImagesPerChunk);
    std::vector<cv::Mat> images;
    std::vector<const SceneGraph*> reference;
    for (size_t i = start; i < end; ++i) {
      const std::string path = image_dir + image_files[i];
      try {
        images.push_back(vision::readSceneImage(path));
      } catch (const std::exception& e) {
        const size_t first = questions_of[i].front();
        throw InputError(questions_path, clevrQuestionLabel(first, questions.questions[first]), e.what());
      }
      auto it = truth_of.find(image_files[i]);
      reference.push_back(it == truth_of.end() ? nullptr : it->second);
    }
    const std::vector<model::ParsedImage> parsed = model::parseImages(engine, images, 16, reference);
    std::vector<std::string> texts;
    std::vector<const model::ParsedImage*> on;
    std::vector<size_t> which;
    for (size_t i = start; i < end; ++i) {
      if (reference[i - start]) scene_evaluation.add(parsed[i - start].objects, *reference[i - start], parsed[i - start].width);
      for (size_t k : questions_of[i]) {
        texts.push_back(questions.questions[k].question);
        on.push_back(&parsed[i - start]);
        which.push_back(k);
      }
    }
    auto part = model::answerOnImages(engine, texts, on, o.batch_size, o.retry_samples);
    for (size_t j = 0; j < part.size(); ++j) answers[which[j]] = std::move(part[j]);
    progress.advance(static_cast<int64_t>(which.size()));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  progress.finish();

  ClevrTally tally;
  int64_t with_program = 0, exact = 0, answered = 0, symbolic_correct = 0, agree = 0;
  for (size_t k = 0; k < answers.size(); ++k) {
    const ClevrQuestion& q = questions.questions[k];
    if (q.has_answer) {
      tally.add(q, answers[k].answer, answers[k].answer.empty() ? answers[k].error : "", static_cast<int>(k));
      ++answered;
      if (answers[k].symbolic_answer == q.answer) ++symbolic_correct;
    }
    if (answers[k].symbolic_answer == answers[k].answer) ++agree;
    if (q.has_program && q.program_error.empty()) {
      ++with_program;
      try {
        if (toPostfix(resolveProgram(q.program)) == answers[k].program) ++exact;
      } catch (const std::exception&) {
        // a gold program outside the token vocabulary never matches
      }
    }
  }
  nlohmann::json out = tally.toJson();
  out["program_exact_match"] = with_program ? nlohmann::json(static_cast<double>(exact) / with_program) : nlohmann::json();
  out["symbolic_accuracy"] = answered ? nlohmann::json(static_cast<double>(symbolic_correct) / answered) : nlohmann::json();
  out["soft_symbolic_agreement"] = static_cast<double>(agree) / static_cast<double>(answers.size());
  if (scored && scene_evaluation.images() > 0) out["scenes"] = scene_evaluation.toJson();
  out["mode"] = {{"scene", "vision"}, {"program", "model"}, {"executor", "soft"}, {"model", o.model},
                 {"questions", questions_path}, {"images", image_dir}, {"threads", o.threads},
                 {"retry_samples", o.retry_samples}, {"mirror_average", o.mirror_average}};
  out["seconds"] = seconds;
  out["questions_per_second"] = seconds > 0 ? static_cast<double>(answers.size()) / seconds : 0.0;
  out["images_per_second"] = seconds > 0 ? static_cast<double>(image_files.size()) / seconds : 0.0;
  if (o.outliers) {
    model::trackOutliers(engine, nullptr);
    nlohmann::json tensors = nlohmann::json::object();
    for (const auto& t : outliers.summary())
      tensors[t.name] = {{"avg_kurtosis", t.avg_kurtosis}, {"avg_inf_norm", t.avg_inf_norm}, {"samples", t.samples}};
    out["outliers"] = {{"avg_kurtosis", outliers.average_kurtosis()},
                       {"max_inf_norm", outliers.max_inf_norm()},
                       {"tensors", tensors}};
  }
  if (answered) printClevrSummary(out);
  else std::printf("%zu questions without answers (predictions only)\n", answers.size());
  if (with_program) std::printf("program exact-match: %.2f%% (%lld/%lld)\n", 100.0 * exact / with_program,
                                static_cast<long long>(exact), static_cast<long long>(with_program));
  if (answered)
    std::printf("exact executor on the detected scenes: %.2f%%; soft and exact answers agree on %.2f%%\n",
                100.0 * symbolic_correct / answered, 100.0 * agree / static_cast<double>(answers.size()));
  if (out.contains("scenes")) std::printf("scenes: %s", scene_evaluation.summary().c_str());
  if (o.outliers)
    std::printf("outliers: average kurtosis %.2f, max inf norm %.2f over %zu tracked tensors\n",
                outliers.average_kurtosis(), outliers.max_inf_norm(), outliers.summary().size());
  std::printf("pixels: %zu questions on %zu images in %.2f s (%.1f questions/s, %d threads)\n", answers.size(),
              image_files.size(), seconds, out["questions_per_second"].get<double>(), o.threads);
  if (o.write_json) outputs.addJson("--json", o.json, out);
  if (o.write_predictions) {
    nlohmann::json list = nlohmann::json::array();
    for (size_t k = 0; k < answers.size(); ++k) {
      const ClevrQuestion& q = questions.questions[k];
      nlohmann::json p = {{"question_index", q.question_index}, {"image_filename", q.image_filename},
                          {"question", q.question}, {"program", tokensToString(answers[k].program)},
                          {"prediction", answers[k].answer}, {"probability", answers[k].probability},
                          {"symbolic_prediction", answers[k].symbolic_answer}};
      if (q.has_answer) p["answer"] = q.answer;
      if (!answers[k].error.empty()) p["error"] = answers[k].error;
      list.push_back(p);
    }
    outputs.addJson("--predictions", o.predictions, list, 1);
  }
}
#endif

#ifdef VQA_HAVE_MODEL
// A GQA program model: its programs for every question (exact-match per structural type), run by the GQA soft
// executor on the questions whose image has a scene graph (answers and GQA's official metrics).
void evalGqaModel(const EvalOptions& o, OutputFiles& outputs) {
  if (o.questions.size() != 1) throw InputError("vqa eval: GQA takes one --questions file");
  hopfield::set_compute_threads(o.threads);
  std::unique_ptr<model::GqaModel> m = model::loadGqaModel(o.model);
  std::vector<GqaQuestion> questions;
  for (auto& q : readGqaQuestions(o.questions.front()))
    if (!o.held_out || m->heldout_images.count(q.image_id)) questions.push_back(std::move(q));
  if (questions.empty())
    throw InputError(o.questions.front() + ": no question to evaluate" +
                     (o.held_out ? std::string(" on the model's held-out images") : std::string()));
  std::map<std::string, SceneGraph> graphs;
  if (!o.scene_graphs.empty()) graphs = readGqaSceneGraphs(o.scene_graphs);
  const auto started = std::chrono::steady_clock::now();
  const model::GqaModelEvaluation e = model::evaluateGqaModel(*m, questions, o.scene_graphs.empty() ? nullptr : &graphs);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  nlohmann::json out = e.summary;
  out["mode"] = {{"program", "model"}, {"scene", "oracle"}, {"executor", "soft"}, {"held_out_only", o.held_out}};
  out["seconds"] = seconds;
  std::printf("GQA model: program exact-match %.2f%% on %lld questions", 100 * out["program_exact_match"].get<double>(),
              static_cast<long long>(out["programs_compared"].get<int64_t>()));
  std::printf("%s\n", o.held_out ? " (the images held out of training)" : "");
  for (const auto& [type, v] : out["per_structural_type"].items())
    std::printf("  %-10s %6.2f%% of %lld\n", type.c_str(), 100 * v["exact_match"].get<double>(),
                static_cast<long long>(v["questions"].get<int64_t>()));
  if (out.contains("gqa_metrics")) {
    const auto& g = out["gqa_metrics"];
    std::printf("answers on %lld questions with scene graphs: accuracy %.2f%% (soft and exact executors agree on "
                "%.2f%%)\n", static_cast<long long>(out["answered"].get<int64_t>()), 100 * g["accuracy"].get<double>(),
                100 * out["soft_symbolic_agreement"].get<double>());
  } else if (!o.scene_graphs.empty()) {
    std::printf("no question's image has a scene graph in %s: programs only\n", o.scene_graphs.c_str());
  }
  if (o.write_json) outputs.addJson("--json", o.json, out);
  if (o.write_predictions) {
    // GQA's format ([{questionId, prediction}]) for the answered questions, each with its program.
    nlohmann::json list = nlohmann::json::array();
    for (size_t k = 0; k < questions.size(); ++k) {
      const model::GqaModelAnswer& a = e.answers[k];
      nlohmann::json p = {{"questionId", questions[k].id}, {"program", program::gqaTokensToString(a.tokens)},
                          {"program_exact", a.exact}};
      if (a.answered) {
        p["prediction"] = a.answer;
        p["probability"] = a.probability;
        if (!a.error.empty()) p["error"] = a.error;
      }
      if (a.answered || graphs.empty()) list.push_back(std::move(p));
    }
    outputs.addJson("--predictions", o.predictions, list, 1);
  }
}
#endif

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

static Registrar reg("eval", "Evaluate question answering (oracle scenes and programs through an executor)",
                     [](CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  app.add_option("--dataset", o->dataset, "clevr or gqa")->check(CLI::IsMember({"clevr", "gqa"}));
  app.add_option("--scenes", o->scenes, "CLEVR scenes file(s) (CLEVR_<split>_scenes.json)");
  app.add_option("--questions", o->questions, "CLEVR questions file(s), or one GQA questions file");
  app.add_option("--model", o->model, "a trained model (vqa train): its programs instead of the oracle's")
      ->type_name("MODEL");
  app.add_option("--data", o->data_dir, "with --model: dataset folder in CLEVR's v1.0 layout")->type_name("DIR");
  app.add_option("--split", o->split, "with --model: the split to evaluate")->capture_default_str();
  app.add_option("--scene-graphs", o->scene_graphs, "GQA scene graphs file");
  app.add_option("--scene", o->scene_mode,
                 "where scenes come from: oracle (ground truth) or vision (a vision model's scene parser reads the "
                 "images; its default)")
      ->check(CLI::IsMember({"oracle", "vision"}));
  app.add_option("--program", o->program_mode, "where programs come from: oracle (ground truth; without --model)")
      ->check(CLI::IsMember({"oracle"}));
  app.add_option("--executor", o->executor,
                 "symbolic (exact) or soft (the differentiable executor on one-hot scenes and programs; CLEVR)")
      ->check(CLI::IsMember({"symbolic", "soft"}));
  app.add_option("--batch-size", o->batch_size, "soft executor or model: questions per batch")->check(CLI::Range(1, 65536));
  app.add_option("--threads", o->threads, "soft executor or model: torch and OpenBLAS threads")->check(CLI::Range(1, 256));
  app.add_option("--retry-samples", o->retry_samples,
                 "--model: where the greedy program cannot run on its scene, try this many sampled programs and keep "
                 "the most probable that runs (0: never)")
      ->check(CLI::Range(0, 256));
  CLI::Option* json = app.add_option("--json", o->json, "write results as JSON to this file");
  CLI::Option* predictions =
      app.add_option("--predictions", o->predictions,
                     "GQA: write [{questionId, prediction}] for score-gqa; --model: each question's program and answer");
  app.add_flag("--skip-missing-scenes", o->skip_missing_scenes, "GQA: skip questions whose image has no scene graph");
  app.add_flag("--held-out", o->held_out, "GQA model: only the questions on the images it held out of training");
  app.add_flag("--mirror-average", o->mirror_average, std::string("vision model: ") + vqa::cli::kMirrorAverageHelp);
  app.add_flag("--outliers", o->outliers,
               "vision model: outlier statistics of its attention blocks (average kurtosis, max inf norm)");
  app.callback([o, json, predictions] {
    // Output paths are checked before any work; the outputs are then written together or not at all.
    o->write_json = json->count() > 0;
    o->write_predictions = predictions->count() > 0;
    if (o->write_json) checkOutputFile("--json", o->json);
    if (o->write_predictions) {
      if (o->dataset != "gqa" && o->model.empty())
        throw std::runtime_error("--predictions is written for GQA (--dataset gqa) and for --model");
      checkOutputFile("--predictions", o->predictions);
      if (o->write_json && std::filesystem::absolute(o->json) == std::filesystem::absolute(o->predictions))
        throw std::runtime_error("--json and --predictions name the same file " + o->json);
    }
    if (o->executor == "soft") {
      if (o->dataset == "gqa") throw std::runtime_error("--executor soft runs CLEVR programs only");
#ifndef VQA_HAVE_SOFT_EXECUTOR
      throw std::runtime_error("--executor soft: this build has no soft executor (it needs torch and src/hopfield)");
#endif
    }
    if (!o->model.empty() && o->dataset == "gqa") {
      if (o->questions.empty()) throw std::runtime_error("--dataset gqa --model needs --questions FILE");
      if (o->outliers) throw std::runtime_error("--outliers goes with a CLEVR model evaluated from images");
      if (!o->data_dir.empty() || !o->program_mode.empty() || o->scene_mode == "vision")
        throw std::runtime_error("--dataset gqa --model: programs come from the model, scenes from --scene-graphs");
#ifndef VQA_HAVE_MODEL
      throw std::runtime_error("--model: this build has no model library (it needs torch)");
#endif
    } else if (!o->model.empty()) {
      if (o->held_out) throw std::runtime_error("--held-out goes with --dataset gqa --model");
      if (o->data_dir.empty()) throw std::runtime_error("--model needs --data DIR (a dataset folder)");
      if (!o->program_mode.empty()) throw std::runtime_error("--model and --program: programs come from the model");
      if (o->questions.size() > 1 || o->scenes.size() > 1)
        throw std::runtime_error("--model: one --questions file and one --scenes file at most");
      checkPlainName("--split", o->split);
#ifndef VQA_HAVE_MODEL
      throw std::runtime_error("--model: this build has no model library (it needs torch)");
#endif
    } else {
      if (o->held_out) throw std::runtime_error("--held-out goes with --dataset gqa --model");
      if (o->outliers) throw std::runtime_error("--outliers goes with --model (a vision model)");
      if (o->mirror_average) throw std::runtime_error("--mirror-average goes with --model (a vision model)");
      if (o->scene_mode != "oracle") throw std::runtime_error("--scene oracle is required (or --model MODEL)");
      if (o->program_mode.empty()) throw std::runtime_error("--program oracle (or --model MODEL) is required");
      if (o->questions.empty()) throw std::runtime_error("--questions is required (or --model with --data)");
      if (!o->data_dir.empty()) throw std::runtime_error("--data is read with --model only");
    }
    OutputFiles outputs;
    if (!o->model.empty()) {
#ifdef VQA_HAVE_MODEL
      if (o->dataset == "gqa") evalGqaModel(*o, outputs);
      else evalModel(*o, outputs);
#endif
    } else if (o->dataset == "gqa") evalGqa(*o, outputs);
    else evalClevr(*o, outputs);
    outputs.commit();
  });
});

}  // namespace vqa::cli
