// The scene parser fine-tuned end to end from answers through the SoftExecutor (see vision_finetune.h).
#include "model/vision_finetune.h"


#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <unistd.h>

#include "core/typed_program.h"
#include "core/vocab.h"
#include "executor/soft_executor.h"
#include "hopfield/threads.h"
#include "model/engine_model.h"
#include "model/engine_quantization.h"
#include "model/qa_data.h"
#include "training/adamw.h"
#include "training/training_log.h"
#include "vision/ground_plane.h"
#include "vision/scene_data.h"

namespace vqa::model {

void checkFinetuneVisionOptions(const FinetuneVisionOptions& o) {
  const auto range = training::checkOptionRange;
  range("--finetune-vision", static_cast<double>(o.steps), 1, 1e8);
  range("--finetune-batch-size", o.batch_size, 1, 1024);
  range("--finetune-questions", o.questions_per_image, 1, 1000);
  range("--finetune-lr", o.learning_rate, 1e-9, 1.0);
  if (o.qa_fraction != 0) range("--qa-fraction", o.qa_fraction, 1e-6, 1.0);
  range("--programs", static_cast<double>(o.programs), 0, 1e9);
  range("--weight-decay", o.weight_decay, 0, 1.0);
  range("--annotation-weight", o.annotation_weight, 0, 1e3);
  range("--threads", o.threads, 1, 256);
  range("--stop-at", static_cast<double>(o.stop_at), 0, 1e8);
}

FinetuneVisionResult finetuneVision(const FinetuneVisionOptions& options, std::ostream& log) {
  const FinetuneVisionOptions& o = options;
  checkFinetuneVisionOptions(o);
  hopfield::set_compute_threads(o.threads);
  const bool terminal = &log == &std::cerr && isatty(fileno(stderr));
  const std::string checkpoint_path = o.model_path + ".finetune.bin";
  const std::string log_path = o.model_path + ".finetune.metrics.jsonl";
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  // The model (or the stage's checkpoint) and where it stands.
  const bool resuming = o.resume && std::filesystem::exists(checkpoint_path);
  LoadedEngineModel loaded = loadEngineModel(resuming ? checkpoint_path : o.model_path);
  EngineModel& model = *loaded.model;
  requireFloatModel(model, resuming ? checkpoint_path : o.model_path);
  if (!model.vision) throw std::runtime_error(o.model_path + ": has no scene parser to fine-tune (--scene vision)");
  int64_t start = 0;
  uint64_t seed = o.seed;
  bool flip = o.flip;
  // Which pairs: the model's record of its program run, else the options (every pair unless a share is asked).
  const nlohmann::json& record = model.trained_on;
  uint64_t selection_seed = record.is_object() ? record.at("seed").get<uint64_t>() : o.seed;
  int64_t supervised = record.is_object() ? record.at("programs").get<int64_t>() : o.programs;
  const double recorded_fraction = record.is_object() ? record.at("qa_fraction").get<double>() : 1.0;
  double qa_fraction = o.qa_fraction > 0 ? o.qa_fraction : recorded_fraction;
  if (resuming) {
    const nlohmann::json t = loaded.file.header.value("training", nlohmann::json());
    if (!t.is_object() || t.value("stage", "") != "finetune-vision")
      throw std::runtime_error(checkpoint_path + ": not a fine-tuning checkpoint");
    start = t.at("step").get<int64_t>();
    seed = t.at("seed").get<uint64_t>();
    qa_fraction = t.value("qa_fraction", 1.0);  // checkpoints before the option learnt from every pair
    supervised = t.value("programs", o.programs);
    selection_seed = t.value("selection_seed", seed);
    flip = t.value("flip", false);  // checkpoints before the option never flipped
    log << "finetune-vision: resuming " << checkpoint_path << " at step " << start << "\n";
  }

  // A share is chosen from the seeded order of one split's questions: the record's, so the split must match.
  const std::string recorded_split = record.is_object() ? record.value("split", "train") : o.split;
  if (qa_fraction < 1.0 && recorded_split != o.split)
    throw std::runtime_error(o.model_path + ": its programs learnt from a share of the '" + recorded_split +
                             "' split; fine-tuning on '" + o.split + "' would choose other pairs (use --split " +
                             recorded_split + ", or --qa-fraction 1)");

  // Question-answer pairs with the model's program, kept where that program answers them on the annotated scene.
  const QaDataset data = openQaDataset(o.data_dir, o.split);
  std::vector<int> chosen(data.questions.size());
  std::iota(chosen.begin(), chosen.end(), 0);
  if (qa_fraction < 1.0) {  // the share the program run trained on: its supervised questions and its pairs
    const QuestionSelection selection = selectQuestions(data, selection_seed, supervised, qa_fraction);
    chosen = selection.warm;
    chosen.insert(chosen.end(), selection.qa.begin(), selection.qa.end());
    std::sort(chosen.begin(), chosen.end());
  }
  std::vector<std::string> texts;
  std::vector<const SceneGraph*> scenes;
  for (int k : chosen) {
    texts.push_back(data.questions[static_cast<size_t>(k)].question);
    scenes.push_back(&data.scenes[static_cast<size_t>(data.scene_of[static_cast<size_t>(k)])]);
  }
  if (!resuming && std::abs(qa_fraction - recorded_fraction) > 1e-12)
    log << "finetune-vision: its programs learnt from " << recorded_fraction << " of the pairs; fine-tuning on "
        << qa_fraction << " as asked\n";
  log << "finetune-vision: programs for " << texts.size() << " of " << data.questions.size() << " questions\n"
      << std::flush;
  const std::vector<AnsweredQuestion> programs = answerWithScenes(model, texts, scenes, 256);
  std::map<std::string, std::vector<size_t>> usable;  // image filename -> positions in `chosen` with a program
  FinetuneVisionResult result;
  for (size_t c = 0; c < programs.size(); ++c) {
    const size_t k = static_cast<size_t>(chosen[c]);
    if (!programs[c].program.empty() && programs[c].answer == data.questions[k].answer) {
      usable[data.questions[k].image_filename].push_back(c);
      ++result.questions;
    }
  }
  if (result.questions == 0) throw std::runtime_error(data.questions_path + ": no question has a program to learn from");

  vision::SceneDataset images = vision::openSceneDataset(o.data_dir, o.split);
  const int n = static_cast<int>(images.records.size());
  vision::SceneParser& parser = model.vision;
  const vision::SceneParserOptions& po = parser->options();
  parser->eval();  // batch-norm statistics stay as the annotation training left them; gradients still flow
  training::AdamW optimizer(*parser, o.weight_decay);
  if (resuming) optimizer.load(loaded.file, start);
  std::vector<nlohmann::json> history = training::trimLog(log_path, start);
  std::ofstream metrics(log_path, std::ios::app);

  auto save = [&](const std::string& path, int64_t step, bool final) {
    if (final) return saveEngineModel(path, model);
    nlohmann::json t = {{"stage", "finetune-vision"}, {"step", step}, {"total_steps", o.steps}, {"seed", seed},
                        {"batch_size", o.batch_size}, {"learning_rate", o.learning_rate},
                        {"annotation_weight", o.annotation_weight}, {"questions_per_image", o.questions_per_image},
                        {"qa_fraction", qa_fraction}, {"programs", supervised}, {"selection_seed", selection_seed},
                        {"flip", flip}};
    saveEngineModel(path, model, t, optimizer.state());
  };

  vision::LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.max_objects = static_cast<int>(po.max_objects);
  lo.input_width = static_cast<int>(po.input_width);
  lo.input_height = static_cast<int>(po.input_height);
  lo.image_scale = static_cast<int>(po.imageScale());
  lo.augment = true;
  lo.flip = flip;
  lo.seed = seed;
  vision::BatchLoader loader(images, lo,
                             [&](int64_t k) { return vision::trainingBatch(k, n, o.batch_size, seed); }, start,
                             std::max<int64_t>(0, o.steps - start));
  const SoftExecutor executor;
  double last_log = 0, last_checkpoint = 0, sum_loss = 0, sum_answer = 0, sum_annotation = 0;
  int64_t window = 0;
  for (int64_t step = start; step < o.steps; ++step) {
    vision::SceneBatch batch = loader.next();
    // Up to questions_per_image pairs per image, drawn by (seed, step).
    std::mt19937_64 rng(seed * 1000003ull + static_cast<uint64_t>(step));
    std::vector<std::vector<int>> tokens;
    std::vector<int64_t> image_of, answer_of;
    for (size_t b = 0; b < batch.indices.size(); ++b) {
      const auto it = usable.find(images.records[static_cast<size_t>(batch.indices[b])].scene.image_filename);
      if (it == usable.end()) continue;
      std::vector<size_t> pool = it->second;
      std::shuffle(pool.begin(), pool.end(), rng);
      for (size_t j = 0; j < pool.size() && j < static_cast<size_t>(o.questions_per_image); ++j) {
        tokens.push_back(programs[pool[j]].program);
        image_of.push_back(static_cast<int64_t>(b));
        answer_of.push_back(clevr::answerIndex(data.questions[static_cast<size_t>(chosen[pool[j]])].answer));
      }
    }
    const vision::ParserLosses annotation =
        parser->losses(batch.images, batch.heatmap, batch.centers, batch.labels, batch.mask);
    at::Tensor answer_loss = at::zeros({}, batch.images.options());
    if (!tokens.empty()) {
      const vision::SceneParse parse = parser->parse(batch.images);
      SoftScene parsed = parse.scene;
      if (flip) {
        const std::vector<uint8_t> mirrored(batch.flipped.begin(), batch.flipped.end());
        parsed.relations = vision::mirrorRelations(parsed.relations, at::tensor(mirrored).to(at::kBool));
      }
      const SoftScene scene = selectScenes(parsed, at::tensor(image_of, at::kLong));
      const SoftExecution run = executor.run(oneHotTokens(tokens), scene);
      const at::Tensor p = run.answer.gather(1, at::tensor(answer_of, at::kLong).unsqueeze(1)).squeeze(1);
      answer_loss = -p.clamp_min(1e-6).log().mean();
    }
    const at::Tensor loss = answer_loss + o.annotation_weight * annotation.total;
    optimizer.zeroGrad();
    loss.backward();
    const double lr = training::warmupCosine(o.learning_rate, step, o.steps, std::min<int64_t>(50, o.steps / 10));
    optimizer.step(lr, 5.0);
    result.last_loss = loss.item<double>();
    if (!std::isfinite(result.last_loss))
      throw std::runtime_error("finetune-vision: the loss became " + std::to_string(result.last_loss) + " at step " +
                               std::to_string(step) + " (try a lower --finetune-lr)");
    sum_loss += result.last_loss;
    sum_answer += answer_loss.item<double>();
    sum_annotation += annotation.total.item<double>();
    ++window;
    const int64_t done = step + 1;
    const double now = elapsed();
    if (now - last_log >= o.log_seconds || done == o.steps) {
      const double rate = (done - start) * o.batch_size / std::max(1e-9, now);
      nlohmann::json j = {{"step", done}, {"loss", sum_loss / window}, {"answer_loss", sum_answer / window},
                          {"annotation_loss", sum_annotation / window}, {"lr", lr}, {"images_per_second", rate},
                          {"elapsed_seconds", now}};
      metrics << j.dump() << "\n" << std::flush;
      history.push_back(j);
      training::CurveSeries total{"blue: log10 loss", {}, 0, 1, true, 200, 80, 0};
      training::CurveSeries answers{"red: log10 answer loss", {}, 0, 1, true, 0, 0, 200};
      for (const auto& h : history) {
        total.points.emplace_back(h["step"].get<double>(), std::log10(std::max(1e-4, h["loss"].get<double>())));
        answers.points.emplace_back(h["step"].get<double>(),
                                    std::log10(std::max(1e-4, h["answer_loss"].get<double>())));
      }
      training::drawCurves(o.model_path + ".finetune.curves.png", {total, answers});
      char line[256];
      std::snprintf(line, sizeof line,
                    "finetune-vision: step %lld/%lld  loss %.4f (answers %.4f annotations %.4f)  %.1f images/s  ETA %s",
                    static_cast<long long>(done), static_cast<long long>(o.steps), sum_loss / window,
                    sum_answer / window, sum_annotation / window, rate,
                    training::formatSeconds((o.steps - done) * o.batch_size / std::max(1e-9, rate)).c_str());
      if (terminal) log << "\r\033[K" << line << std::flush;
      else log << line << "\n" << std::flush;
      sum_loss = sum_answer = sum_annotation = 0;
      window = 0;
      last_log = now;
    }
    const bool stopping = o.stop_at > 0 && done >= o.stop_at && done < o.steps;
    if ((now - last_checkpoint >= o.checkpoint_seconds && done < o.steps) || stopping) {
      save(checkpoint_path, done, false);
      last_checkpoint = elapsed();
    }
    if (stopping) {
      if (terminal) log << "\n";
      result.start_step = start;
      result.steps = done;
      result.seconds = elapsed();
      return result;
    }
  }
  if (terminal) log << "\n";
  save(o.model_path, o.steps, true);
  std::error_code ec;
  std::filesystem::remove(checkpoint_path, ec);
  result.start_step = start;
  result.steps = o.steps;
  result.seconds = elapsed();
  return result;
}

}  // namespace vqa::model
