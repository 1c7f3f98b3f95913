// Bench: the whole engine from pixels (a --scene vision model, floating point or quantized): the latency of a
// warm `ask` (model loaded; read one image, parse it, answer one question) split into its parts, evaluation
// throughput (images and questions per second, images parsed in batches) per thread count, the model file's
// size, and the training wall time read from the metrics logs of the scene parser and the program model.
// Several --model options (say a model and its `vqa quantize` output) are measured one after the other.
// Usage: bench_pixel_engine --model MODEL [--model MODEL_INT8] --data DIR [--split val] [--images 200]
//                           [--threads 1,2] [--repeats 30] [--vision-log FILE] [--programs-log FILE]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/clevr/clevr_io.h"
#include "hopfield/threads.h"
#include "model/engine_model.h"
#include "model/pixel_answering.h"
#include "vision/image_io.h"

using namespace vqa;

namespace {
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The last elapsed_seconds of a metrics log (JSON lines), or -1.
double loggedSeconds(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  double last = -1;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("elapsed_seconds")) last = j["elapsed_seconds"].get<double>();
  }
  return last;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the engine from pixels: warm ask latency, evaluation throughput, training wall time"};
  std::vector<std::string> model_paths;
  std::string data_dir, split = "val", vision_log, programs_log;
  int images = 200, repeats = 30;
  std::vector<int> threads{1, 2};
  app.add_option("--model", model_paths, "engine models with a scene parser (vqa train --scene vision, vqa quantize)")
      ->required();
  app.add_option("--data", data_dir, "dataset folder (CLEVR layout, with images)")->required();
  app.add_option("--split", split, "split")->capture_default_str();
  app.add_option("--images", images, "images (with all their questions) for the throughput figure")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--repeats", repeats, "warm asks timed per thread count")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--threads", threads, "thread counts")->delimiter(',')->check(CLI::Range(1, 256));
  app.add_option("--vision-log", vision_log, "the scene parser's metrics log (training wall time)");
  app.add_option("--programs-log", programs_log, "the program model's metrics log (training wall time)");
  CLI11_PARSE(app, argc, argv);
  for (const std::string& model_path : model_paths) try {
    model::LoadedEngineModel loaded = model::loadEngineModel(model_path);
    model::EngineModel& engine = *loaded.model;
    if (!engine.vision) throw std::runtime_error(model_path + ": not a --scene vision model");
    const ClevrQuestions questions = readClevrQuestions(data_dir + "/questions/CLEVR_" + split + "_questions.json");
    std::map<std::string, std::vector<std::string>> asked;  // image file -> its questions, in file order
    std::vector<std::string> files;
    for (const auto& q : questions.questions) {
      if (!asked.count(q.image_filename)) files.push_back(q.image_filename);
      asked[q.image_filename].push_back(q.question);
    }
    if (files.size() > static_cast<size_t>(images)) files.resize(static_cast<size_t>(images));
    const std::string image_dir = data_dir + "/images/" + split + "/";
    std::printf("\nbench_pixel_engine: %s; %s %s, scene parser %s\n", model_path.c_str(), data_dir.c_str(), split.c_str(),
                engine.vision->options().toJson().dump().c_str());
    std::printf("model file: %.3f MB, %s\n", std::filesystem::file_size(model_path) / (1024.0 * 1024.0),
                engine.quantization.is_null() ? "floating point"
                                              : ("W8A8, kernels: " + engine.quantization.value("kernels", "?")).c_str());

    std::printf("\nwarm ask (one image, one question; median of %d):\n", repeats);
    std::printf("| threads | read ms | parse ms | answer ms | total ms |\n|---|---|---|---|---|\n");
    const std::string first = image_dir + files.front();
    const std::string question = asked[files.front()].front();
    for (int t : threads) {
      hopfield::set_compute_threads(t);
      std::vector<double> read, parse, answer, total;
      for (int r = -3; r < repeats; ++r) {  // three untimed warm-up asks
        const auto t0 = std::chrono::steady_clock::now();
        const cv::Mat image = vision::readSceneImage(first);
        const double t_read = since(t0);
        const auto parsed = model::parseImages(engine, {image}, 1);
        const double t_parse = since(t0) - t_read;
        const auto a = model::answerOnImages(engine, {question}, {&parsed.front()}, 1);
        const double t_all = since(t0);
        if (r < 0) continue;
        read.push_back(1000 * t_read);
        parse.push_back(1000 * t_parse);
        answer.push_back(1000 * (t_all - t_read - t_parse));
        total.push_back(1000 * t_all);
      }
      std::printf("| %d | %.2f | %.2f | %.2f | %.2f |\n", t, median(read), median(parse), median(answer), median(total));
    }

    std::printf("\nevaluation throughput (%zu images, all their questions; images parsed 16 at a time):\n", files.size());
    std::printf("| threads | images/s | questions/s | accuracy |\n|---|---|---|---|\n");
    std::map<std::string, std::string> truth;
    for (const auto& q : questions.questions) truth[q.image_filename + "\n" + q.question] = q.answer;
    for (int t : threads) {
      hopfield::set_compute_threads(t);
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<cv::Mat> decoded;
      for (const auto& f : files) decoded.push_back(vision::readSceneImage(image_dir + f));
      const auto parsed = model::parseImages(engine, decoded, 16);
      std::vector<std::string> texts, keys;
      std::vector<const model::ParsedImage*> on;
      for (size_t i = 0; i < files.size(); ++i)
        for (const auto& q : asked[files[i]]) {
          texts.push_back(q);
          on.push_back(&parsed[i]);
          keys.push_back(files[i] + "\n" + q);
        }
      const auto answers = model::answerOnImages(engine, texts, on, 64);
      const double seconds = since(t0);
      int correct = 0;
      for (size_t k = 0; k < answers.size(); ++k) correct += answers[k].answer == truth[keys[k]];
      std::printf("| %d | %.1f | %.1f | %.4f |\n", t, files.size() / seconds, texts.size() / seconds,
                  static_cast<double>(correct) / std::max<size_t>(1, answers.size()));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_pixel_engine: %s\n", e.what());
    return 1;
  }
  if (!vision_log.empty() || !programs_log.empty()) {
    const double v = vision_log.empty() ? -1 : loggedSeconds(vision_log);
    const double p = programs_log.empty() ? -1 : loggedSeconds(programs_log);
    std::printf("\ntraining wall time (from the logs): scene parser %.0f s, programs %.0f s\n", v, p);
  }
  return 0;
}
