// The scene parser's training loop (AdamW, warm-up + cosine schedule, threaded loading, atomic checkpoints,
// exact resume, metrics log and curves) and its model file.
#include "vision/trainer.h"

#include <torch/csrc/autograd/grad_mode.h>
#include <ATen/Context.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

#include "datasets/json_file.h"
#include "hopfield/threads.h"
#include "training/adamw.h"
#include "training/training_log.h"
#include "vision/scene_data.h"
#include "vision/scene_metrics.h"

namespace vqa::vision {

namespace {

double learningRate(const TrainVisionOptions& o, int64_t step, int64_t total) {
  return training::warmupCosine(o.learning_rate, step, total, std::min<int64_t>(200, total / 10));
}

// The curves of a run: log10 training loss, validation F1 and the worst validation attribute accuracy.
void drawVisionCurves(const std::string& path, const std::vector<nlohmann::json>& history) {
  training::CurveSeries loss{"blue: log10 train loss", {}, 0, 1, true, 0, 80, 200};
  training::CurveSeries f1{"green: val F1", {}, 0, 1, false, 0, 150, 0};
  training::CurveSeries attr{"red: worst val attribute", {}, 0, 1, false, 200, 0, 0};
  for (const auto& j : history) {
    const double step = j.value("step", 0.0);
    if (j.contains("loss")) loss.points.emplace_back(step, std::log10(std::max(1e-4, j["loss"].get<double>())));
    if (j.contains("val")) {
      f1.points.emplace_back(step, j["val"]["detection"]["f1"].get<double>());
      double worst = 1.0;
      for (auto& [k, v] : j["val"]["attributes"].items()) worst = std::min(worst, v.get<double>());
      attr.points.emplace_back(step, worst);
    }
  }
  training::drawCurves(path, {loss, f1, attr});
}

}  // namespace

void saveSceneParser(const std::string& path, SceneParser& parser, const nlohmann::json& training,
                     const NamedTensors& extra) {
  nlohmann::json header = {{"kind", kSceneParserKind},
                           {"format_version", kSceneParserFormatVersion},
                           {"options", parser->options().toJson()},
                           {"vocabularies", sceneVocabularies()}};
  if (training.is_object()) header["training"] = training;
  NamedTensors tensors;
  training::appendModuleTensors(*parser, "model", &tensors);
  for (const auto& e : extra) tensors.push_back(e);
  training::writeModelFile(path, header, tensors);
}

LoadedSceneParser loadSceneParser(const std::string& path) {
  LoadedSceneParser out;
  out.file = training::readModelFile(path, kSceneParserKind, kSceneParserFormatVersion);
  const auto& h = out.file.header;
  if (!h.contains("vocabularies") || h["vocabularies"] != sceneVocabularies())
    throw std::runtime_error(path + ": the model's vocabularies differ from this build's CLEVR vocabularies");
  SceneParserOptions options;
  try {
    options = SceneParserOptions::fromJson(h.at("options"));
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  out.parser = SceneParser(options);
  training::loadModuleTensors(out.file, path, "model", *out.parser);
  out.parser->eval();
  return out;
}

void checkTrainVisionOptions(const TrainVisionOptions& o) {
  const auto range = training::checkOptionRange;
  range("--epochs", o.epochs, 0, 100000);
  range("--steps", static_cast<double>(o.steps), 0, 1e8);
  range("--stop-at", static_cast<double>(o.stop_at), 0, 1e8);
  range("--batch-size", o.batch_size, 1, 1024);
  range("--lr", o.learning_rate, 1e-8, 1.0);
  range("--weight-decay", o.weight_decay, 0, 1.0);
  range("--threads", o.threads, 1, 256);
  range("--loader-threads", o.loader_threads, 1, 64);
  range("--checkpoint-seconds", o.checkpoint_seconds, 1, 1e6);
  range("--val-images", o.val_images, 0, 1e6);
  if (o.epochs > 0 && o.steps > 0) throw std::runtime_error("--epochs, --steps: give one of them, not both");
  if (o.paste_occlude && !o.paste) throw std::runtime_error("--paste-occlude: goes with --paste");
  try {
    o.model.check();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("model options: ") + e.what());
  }
}

TrainVisionResult trainSceneParser(const TrainVisionOptions& options, std::ostream& log) {
  TrainVisionOptions o = options;
  if (o.log_path.empty()) o.log_path = o.out_path + ".metrics.jsonl";
  if (o.curves_path.empty()) o.curves_path = o.out_path + ".curves.png";
  hopfield::set_compute_threads(o.threads);
  const bool terminal = &log == &std::cerr && isatty(fileno(stderr));

  SceneDataset train = openSceneDataset(o.data_dir, o.split);
  if (train.records.empty()) throw std::runtime_error(train.scenes_path + ": no scenes to train on");
  SceneDataset val;
  const std::string val_dir = o.val_data_dir.empty() ? o.data_dir : o.val_data_dir;
  const bool validate = o.val_images > 0 && !o.val_split.empty() &&
                        (!o.val_data_dir.empty() ||
                         std::filesystem::exists(val_dir + "/scenes/CLEVR_" + o.val_split + "_scenes.json"));
  if (validate) val = openSceneDataset(val_dir, o.val_split);
  const int n = static_cast<int>(train.records.size());
  const int64_t per_epoch = std::max(1, n / o.batch_size);

  // Model and optimizer: fresh from the seed, or exactly as the checkpoint left them.
  SceneParser parser{nullptr};
  int64_t start = 0, total = 0;
  ModelFile resumed;
  if (o.resume && std::filesystem::exists(o.out_path)) {
    LoadedSceneParser loaded = loadSceneParser(o.out_path);
    const auto& t = loaded.file.header.value("training", nlohmann::json());
    if (!t.is_object()) throw std::runtime_error(o.out_path + ": holds no training state to resume (a final model?)");
    parser = loaded.parser;
    resumed = std::move(loaded.file);
    start = t.at("step").get<int64_t>();
    total = t.at("total_steps").get<int64_t>();
    o.seed = t.at("seed").get<uint64_t>();
    o.batch_size = t.at("batch_size").get<int>();
    o.learning_rate = t.at("learning_rate").get<double>();
    o.weight_decay = t.at("weight_decay").get<double>();
    o.augment = t.at("augment").get<bool>();
    o.flip = t.value("flip", false);  // checkpoints before the option never flipped
    o.paste = t.value("paste", false);  // nor pasted
    o.paste_occlude = t.value("paste_occlude", false);
    if (t.at("train_images").get<int>() != n)
      throw std::runtime_error(o.out_path + ": trained on " + std::to_string(t.at("train_images").get<int>()) +
                               " images, but the " + o.split + " split now has " + std::to_string(n));
    if (o.steps > 0) total = o.steps;
    else if (o.epochs > 0) total = o.epochs * per_epoch;
    log << "train-vision: resuming " << o.out_path << " at step " << start << " of " << total << "\n";
  } else {
    at::manual_seed(o.seed);
    parser = SceneParser(o.model);
    if (!o.init_path.empty()) {
      const LoadedSceneParser init = loadSceneParser(o.init_path);
      const size_t copied = training::copyMatchingTensors(init.file, "model", *parser);
      if (copied == 0) throw std::runtime_error(o.init_path + ": no tensor matches this parser's (--init)");
      log << "train-vision: " << copied << " of " << parser->named_parameters().size() + parser->named_buffers().size()
          << " tensors from " << o.init_path << "\n";
    }
    total = o.steps > 0 ? o.steps : (o.epochs > 0 ? o.epochs : 10) * per_epoch;
  }
  parser->train();
  training::AdamW optimizer(*parser, o.weight_decay);
  if (resumed.header.is_object()) optimizer.load(resumed, start);

  std::vector<nlohmann::json> history = training::trimLog(o.log_path, start);
  std::ofstream metrics(o.log_path, std::ios::app);

  auto checkpoint = [&](int64_t step) {
    nlohmann::json training = {{"step", step}, {"total_steps", total}, {"seed", o.seed}, {"batch_size", o.batch_size},
                               {"learning_rate", o.learning_rate}, {"weight_decay", o.weight_decay},
                               {"augment", o.augment}, {"flip", o.flip}, {"paste", o.paste},
                               {"paste_occlude", o.paste_occlude}, {"train_images", n},
                               {"split", o.split}, {"init", o.init_path}};
    saveSceneParser(o.out_path, parser, training, optimizer.state());
  };

  LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.max_objects = static_cast<int>(parser->options().max_objects);
  lo.input_width = static_cast<int>(parser->options().input_width);
  lo.input_height = static_cast<int>(parser->options().input_height);
  lo.image_scale = static_cast<int>(parser->options().imageScale());
  lo.threads = o.loader_threads;
  lo.augment = o.augment;
  lo.flip = o.flip;
  lo.paste = o.paste;
  lo.paste_occlude = o.paste_occlude;
  lo.seed = o.seed;
  lo.object_ids = parser->options().crop_mask;
  if ((lo.object_ids || lo.paste) && train.masks_dir.empty())
    throw std::runtime_error(o.data_dir + "/masks/" + o.split + ": no object masks, which " +
                             (lo.paste ? "--paste cuts objects with" : "the crop mask learns from") +
                             " (write them with vqa generate --masks)");
  TrainVisionResult result;
  result.start_step = start;
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  double last_log = 0, last_checkpoint = 0;
  double sum_loss = 0, sum_heat = 0, sum_offset = 0, sum_attr = 0, sum_mask = 0;
  int64_t window = 0;
  BatchLoader loader(train, lo, [&](int64_t k) { return trainingBatch(k, n, o.batch_size, o.seed); }, start,
                     std::max<int64_t>(0, total - start));
  for (int64_t step = start; step < total; ++step) {
    SceneBatch batch = loader.next();
    ParserLosses l =
        parser->losses(batch.images, batch.heatmap, batch.centers, batch.labels, batch.mask, batch.object_ids);
    optimizer.zeroGrad();
    l.total.backward();
    const double lr = learningRate(o, step, total);
    optimizer.step(lr, 5.0);
    const double loss = l.total.item<double>();
    if (!std::isfinite(loss)) throw std::runtime_error("train-vision: the loss became " + std::to_string(loss) +
                                                       " at step " + std::to_string(step) + " (try a lower --lr)");
    sum_loss += loss;
    sum_heat += l.heatmap.item<double>();
    sum_offset += l.offset.item<double>();
    sum_attr += l.attributes.item<double>();
    sum_mask += l.mask.item<double>();
    ++window;
    result.last_loss = loss;
    const int64_t done = step + 1;
    const double now = elapsed();
    if (now - last_log >= o.log_seconds || done == total) {
      const double rate = (done - start) * o.batch_size / std::max(1e-9, now);
      const double eta = (total - done) * o.batch_size / std::max(1e-9, rate);
      nlohmann::json j = {{"step", done}, {"epoch", static_cast<double>(done) / per_epoch},
                          {"loss", sum_loss / window}, {"heatmap", sum_heat / window}, {"offset", sum_offset / window},
                          {"attributes", sum_attr / window}, {"lr", lr}, {"images_per_second", rate},
                          {"elapsed_seconds", now}};
      if (lo.object_ids) j["mask"] = sum_mask / window;
      metrics << j.dump() << "\n" << std::flush;
      history.push_back(j);
      char line[256];
      char mask_part[32] = "";
      if (lo.object_ids) std::snprintf(mask_part, sizeof mask_part, " mask %.4f", sum_mask / window);
      std::snprintf(line, sizeof line, "train-vision: step %lld/%lld  loss %.4f (heatmap %.4f offset %.4f attributes %.4f%s)  %.1f images/s  ETA %s",
                    static_cast<long long>(done), static_cast<long long>(total), sum_loss / window, sum_heat / window,
                    sum_offset / window, sum_attr / window, mask_part, rate, training::formatSeconds(eta).c_str());
      if (terminal) log << "\r\033[K" << line << std::flush;
      else log << line << "\n" << std::flush;
      sum_loss = sum_heat = sum_offset = sum_attr = sum_mask = 0;
      window = 0;
      last_log = now;
    }
    const bool stopping = o.stop_at > 0 && done >= o.stop_at && done < total;
    if (now - last_checkpoint >= o.checkpoint_seconds || done == total || stopping) {
      checkpoint(done);
      if (validate) {
        EvaluateOptions eo;
        eo.max_images = o.val_images;
        eo.loader_threads = o.loader_threads;
        nlohmann::json v = evaluateSceneParser(parser, val, eo);
        result.last_validation = v;
        nlohmann::json j = {{"step", done}, {"val", {{"detection", v["detection"]}, {"attributes", v["attributes"]},
                                                      {"relations", v["relations"]}, {"position_error", v["position_error"]}}}};
        metrics << j.dump() << "\n" << std::flush;
        history.push_back(j);
        char line[256];
        std::snprintf(line, sizeof line, "train-vision: step %lld val (%d images): F1 %.4f  color %.4f shape %.4f material %.4f size %.4f  relations %.4f",
                      static_cast<long long>(done), v["images"].get<int>(), v["detection"]["f1"].get<double>(),
                      v["attributes"]["color"].get<double>(), v["attributes"]["shape"].get<double>(),
                      v["attributes"]["material"].get<double>(), v["attributes"]["size"].get<double>(),
                      v["relations"].get<double>());
        log << (terminal ? "\n" : "") << line << "\n" << std::flush;
      }
      drawVisionCurves(o.curves_path, history);
      last_checkpoint = elapsed();
    }
    if (stopping) {
      result.steps = done;
      result.seconds = elapsed();
      return result;
    }
  }
  if (start >= total) checkpoint(start);
  result.steps = total;
  result.seconds = elapsed();
  return result;
}

}  // namespace vqa::vision
