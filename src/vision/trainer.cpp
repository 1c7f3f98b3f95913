// The scene parser's training loop (AdamW, warm-up + cosine schedule, threaded loading, atomic checkpoints,
// exact resume, metrics log and curves) and its model file.
#include "vision/trainer.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
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
#include "vision/scene_data.h"
#include "vision/scene_metrics.h"

namespace vqa::vision {

namespace {

// AdamW with bias correction; its state is plain named tensors so checkpoints hold it exactly.
class AdamW {
 public:
  AdamW(torch::nn::Module& module, double weight_decay) : weight_decay_(weight_decay) {
    for (auto& p : module.named_parameters()) {
      names_.push_back(p.key());
      params_.push_back(p.value());
      m_.push_back(at::zeros_like(p.value()));
      v_.push_back(at::zeros_like(p.value()));
    }
  }
  void zeroGrad() {
    for (auto& p : params_)
      if (p.grad().defined()) p.mutable_grad().zero_();
  }
  // One step at learning rate lr after clipping the global gradient norm to max_norm; returns the norm.
  double step(double lr, double max_norm) {
    torch::NoGradGuard no_grad;
    double total = 0;
    for (auto& p : params_)
      if (p.grad().defined()) total += p.grad().pow(2).sum().item<double>();
    const double norm = std::sqrt(total);
    const double clip = norm > max_norm ? max_norm / (norm + 1e-6) : 1.0;
    ++steps_;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const double c1 = 1.0 - std::pow(b1, static_cast<double>(steps_)), c2 = 1.0 - std::pow(b2, static_cast<double>(steps_));
    for (size_t i = 0; i < params_.size(); ++i) {
      if (!params_[i].grad().defined()) continue;
      at::Tensor g = params_[i].grad() * clip;
      m_[i].mul_(b1).add_(g, 1 - b1);
      v_[i].mul_(b2).addcmul_(g, g, 1 - b2);
      if (params_[i].dim() > 1) params_[i].mul_(1 - lr * weight_decay_);  // no decay on biases and norms
      params_[i].addcdiv_(m_[i] / c1, (v_[i] / c2).sqrt_().add_(eps), -lr);
    }
    return norm;
  }
  NamedTensors state() const {
    NamedTensors out;
    for (size_t i = 0; i < names_.size(); ++i) {
      out.emplace_back("adam.m." + names_[i], m_[i]);
      out.emplace_back("adam.v." + names_[i], v_[i]);
    }
    return out;
  }
  void load(const ModelFile& file, int64_t steps) {
    for (size_t i = 0; i < names_.size(); ++i) {
      const at::Tensor* m = file.find("adam.m." + names_[i]);
      const at::Tensor* v = file.find("adam.v." + names_[i]);
      if (!m || !v || !m->sizes().equals(m_[i].sizes()) || !v->sizes().equals(v_[i].sizes()))
        throw std::runtime_error("optimizer state for " + names_[i] + " is missing or has the wrong shape");
      m_[i].copy_(*m);
      v_[i].copy_(*v);
    }
    steps_ = steps;
  }

 private:
  double weight_decay_;
  int64_t steps_ = 0;
  std::vector<std::string> names_;
  std::vector<at::Tensor> params_, m_, v_;
};

double learningRate(const TrainVisionOptions& o, int64_t step, int64_t total) {
  const int64_t warmup = std::max<int64_t>(1, std::min<int64_t>(200, total / 10));
  if (step < warmup) return o.learning_rate * static_cast<double>(step + 1) / warmup;
  const double progress = static_cast<double>(step - warmup) / std::max<int64_t>(1, total - warmup);
  return o.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress))));
}

std::string formatSeconds(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  else std::snprintf(buf, sizeof buf, "%ds", static_cast<int>(s));
  return buf;
}

// Drops log lines written after `step` (an interrupted run's tail) and returns the kept lines.
std::vector<nlohmann::json> readLog(const std::string& path, int64_t up_to_step) {
  std::vector<nlohmann::json> kept;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    try {
      nlohmann::json j = nlohmann::json::parse(line);
      if (j.contains("step") && j["step"].get<int64_t>() <= up_to_step) kept.push_back(j);
    } catch (const std::exception&) {
      // a torn last line of an interrupted run
    }
  }
  return kept;
}

void drawCurves(const std::string& path, const std::vector<nlohmann::json>& history) {
  const int W = 800, H = 400, pad = 40;
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  std::vector<std::pair<double, double>> loss, f1, attr;
  for (const auto& j : history) {
    const double step = j.value("step", 0.0);
    if (j.contains("loss")) loss.emplace_back(step, std::log10(std::max(1e-4, j["loss"].get<double>())));
    if (j.contains("val")) {
      f1.emplace_back(step, j["val"]["detection"]["f1"].get<double>());
      double worst = 1.0;
      for (auto& [k, v] : j["val"]["attributes"].items()) worst = std::min(worst, v.get<double>());
      attr.emplace_back(step, worst);
    }
  }
  if (loss.empty()) return;
  double max_step = 1, lo = 1e9, hi = -1e9;
  for (auto& [s, v] : loss) max_step = std::max(max_step, s), lo = std::min(lo, v), hi = std::max(hi, v);
  if (hi - lo < 1e-6) hi = lo + 1;
  auto px = [&](double s) { return pad + static_cast<int>((W - 2 * pad) * s / max_step); };
  auto draw = [&](const std::vector<std::pair<double, double>>& pts, double a, double b, cv::Scalar colour) {
    for (size_t i = 1; i < pts.size(); ++i) {
      auto y = [&](double v) { return H - pad - static_cast<int>((H - 2 * pad) * (v - a) / (b - a)); };
      cv::line(img, {px(pts[i - 1].first), y(pts[i - 1].second)}, {px(pts[i].first), y(pts[i].second)}, colour, 2);
    }
  };
  cv::rectangle(img, {pad, pad}, {W - pad, H - pad}, cv::Scalar(180, 180, 180));
  draw(loss, lo, hi, cv::Scalar(200, 80, 0));
  draw(f1, 0, 1, cv::Scalar(0, 150, 0));
  draw(attr, 0, 1, cv::Scalar(0, 0, 200));
  char text[160];
  std::snprintf(text, sizeof text, "blue: log10 train loss [%.2f, %.2f]   green: val F1   red: worst val attribute (0-1)",
                lo, hi);
  cv::putText(img, text, {pad, 25}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1);
  std::snprintf(text, sizeof text, "step %d", static_cast<int>(max_step));
  cv::putText(img, text, {W - pad - 90, H - 12}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1);
  std::vector<uchar> png;
  cv::imencode(".png", img, png);
  writeFileAtomic(path, std::string(png.begin(), png.end()));
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
  for (auto& p : parser->named_parameters()) tensors.emplace_back("model." + p.key(), p.value());
  for (auto& b : parser->named_buffers()) tensors.emplace_back("model." + b.key(), b.value());
  for (const auto& e : extra) tensors.push_back(e);
  writeModelFile(path, header, tensors);
}

LoadedSceneParser loadSceneParser(const std::string& path) {
  LoadedSceneParser out;
  out.file = readModelFile(path, kSceneParserKind, kSceneParserFormatVersion);
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
  torch::NoGradGuard no_grad;
  auto assign = [&](const std::string& name, at::Tensor& target) {
    const at::Tensor* t = out.file.find("model." + name);
    if (!t) throw std::runtime_error(path + ": no tensor " + name);
    if (!t->sizes().equals(target.sizes()) || t->scalar_type() != target.scalar_type())
      throw std::runtime_error(path + ": tensor " + name + " has the wrong shape or type");
    target.copy_(*t);
  };
  for (auto& p : out.parser->named_parameters()) assign(p.key(), p.value());
  for (auto& b : out.parser->named_buffers()) assign(b.key(), b.value());
  out.parser->eval();
  return out;
}

void checkTrainVisionOptions(const TrainVisionOptions& o) {
  auto range = [](const char* option, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi) {
      std::ostringstream s;
      s << option << ": must be in [" << lo << ", " << hi << "] (got " << v << ")";
      throw std::runtime_error(s.str());
    }
  };
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
    if (t.at("train_images").get<int>() != n)
      throw std::runtime_error(o.out_path + ": trained on " + std::to_string(t.at("train_images").get<int>()) +
                               " images, but the " + o.split + " split now has " + std::to_string(n));
    if (o.steps > 0) total = o.steps;
    else if (o.epochs > 0) total = o.epochs * per_epoch;
    log << "train-vision: resuming " << o.out_path << " at step " << start << " of " << total << "\n";
  } else {
    at::manual_seed(o.seed);
    parser = SceneParser(o.model);
    total = o.steps > 0 ? o.steps : (o.epochs > 0 ? o.epochs : 10) * per_epoch;
  }
  parser->train();
  AdamW optimizer(*parser, o.weight_decay);
  if (resumed.header.is_object()) optimizer.load(resumed, start);

  std::vector<nlohmann::json> history = readLog(o.log_path, start);
  {
    std::string text;
    for (const auto& j : history) text += j.dump() + "\n";
    writeFileAtomic(o.log_path, text);
  }
  std::ofstream metrics(o.log_path, std::ios::app);

  auto checkpoint = [&](int64_t step) {
    nlohmann::json training = {{"step", step}, {"total_steps", total}, {"seed", o.seed}, {"batch_size", o.batch_size},
                               {"learning_rate", o.learning_rate}, {"weight_decay", o.weight_decay},
                               {"augment", o.augment}, {"train_images", n}, {"split", o.split}};
    saveSceneParser(o.out_path, parser, training, optimizer.state());
  };

  LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.max_objects = static_cast<int>(parser->options().max_objects);
  lo.input_width = static_cast<int>(parser->options().input_width);
  lo.input_height = static_cast<int>(parser->options().input_height);
  lo.threads = o.loader_threads;
  lo.augment = o.augment;
  lo.seed = o.seed;
  TrainVisionResult result;
  result.start_step = start;
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  double last_log = 0, last_checkpoint = 0;
  double sum_loss = 0, sum_heat = 0, sum_offset = 0, sum_attr = 0;
  int64_t window = 0;
  BatchLoader loader(train, lo, [&](int64_t k) { return trainingBatch(k, n, o.batch_size, o.seed); }, start,
                     std::max<int64_t>(0, total - start));
  for (int64_t step = start; step < total; ++step) {
    SceneBatch batch = loader.next();
    ParserLosses l = parser->losses(batch.images, batch.heatmap, batch.centers, batch.labels, batch.mask);
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
      metrics << j.dump() << "\n" << std::flush;
      history.push_back(j);
      char line[256];
      std::snprintf(line, sizeof line, "train-vision: step %lld/%lld  loss %.4f (heatmap %.4f offset %.4f attributes %.4f)  %.1f images/s  ETA %s",
                    static_cast<long long>(done), static_cast<long long>(total), sum_loss / window, sum_heat / window,
                    sum_offset / window, sum_attr / window, rate, formatSeconds(eta).c_str());
      if (terminal) log << "\r\033[K" << line << std::flush;
      else log << line << "\n" << std::flush;
      sum_loss = sum_heat = sum_offset = sum_attr = 0;
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
      drawCurves(o.curves_path, history);
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
