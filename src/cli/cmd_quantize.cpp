// `vqa quantize`: calibrate a trained engine on a dataset split and write its W8A8 model (int8 weights, calibrated
// activation ranges); `vqa eval` and `vqa ask` load it like any model.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "core/errors.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/json_file.h"
#include "hopfield/threads.h"
#include "model/engine_model.h"
#include "model/engine_quantization.h"
#include "vision/image_io.h"

namespace {

struct QuantizeArgs {
  std::string model, data, split = "train", out, json;
  int images = 64, questions = 512, threads = 2;
  vqa::model::QuantizeOptions options;
};

double megabytes(const std::string& path) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  return ec ? 0.0 : static_cast<double>(bytes) / (1024.0 * 1024.0);
}

void run(const QuantizeArgs& a) {
  vqa::cli::checkPlainName("--split", a.split);
  vqa::cli::checkOutputFile("--out", a.out);
  if (!a.json.empty()) vqa::cli::checkOutputFile("--json", a.json);
  if (std::filesystem::absolute(a.out) == std::filesystem::absolute(a.model))
    throw std::runtime_error("--out: must differ from --model (the floating point model is kept)");
  vqa::hopfield::set_compute_threads(a.threads);
  const auto t0 = std::chrono::steady_clock::now();
  auto loaded = vqa::model::loadEngineModel(a.model);
  vqa::model::EngineModel& model = *loaded.model;
  vqa::model::requireFloatModel(model, a.model);

  // Calibration data: the split's first questions, and the first images they name.
  const std::string questions_path = a.data + "/questions/CLEVR_" + a.split + "_questions.json";
  const vqa::ClevrQuestions file = vqa::readClevrQuestions(questions_path);
  if (file.questions.empty()) throw vqa::InputError(questions_path, "", "no questions");
  std::vector<std::string> questions;
  for (const auto& q : file.questions) {
    if (static_cast<int>(questions.size()) >= a.questions) break;
    questions.push_back(q.question);
  }
  std::vector<cv::Mat> images;
  if (model.vision) {
    std::map<std::string, bool> seen;
    for (size_t k = 0; k < file.questions.size() && static_cast<int>(images.size()) < a.images; ++k) {
      const vqa::ClevrQuestion& q = file.questions[k];
      if (q.image_filename.empty() || !seen.emplace(q.image_filename, true).second) continue;
      const std::string path = a.data + "/images/" + a.split + "/" + q.image_filename;
      try {
        images.push_back(vqa::vision::readSceneImage(path));
      } catch (const std::exception& e) {
        throw vqa::InputError(questions_path, vqa::clevrQuestionLabel(k, q), e.what());
      }
    }
  }
  std::fprintf(stderr, "quantize: calibrating on %zu images and %zu questions of %s (%s)\n", images.size(),
               questions.size(), a.data.c_str(), a.split.c_str());
  const nlohmann::json source = {{"model", a.model}, {"data", a.data}, {"split", a.split}};
  vqa::model::quantizeEngine(model, images, questions, a.options, source);
  vqa::model::saveEngineModel(a.out, model);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const nlohmann::json& q = model.quantization;
  nlohmann::json summary = {{"model", a.model},
                            {"out", a.out},
                            {"fp32_megabytes", megabytes(a.model)},
                            {"int8_megabytes", megabytes(a.out)},
                            {"seconds", seconds},
                            {"quantization", q}};
  std::printf("quantized: %s -> %s in %.1f s\n", a.model.c_str(), a.out.c_str(), seconds);
  std::printf("  layers int8: %d linear, %d conv; activation points: %s\n", q["layers"]["linear"].get<int>(),
              q["layers"]["conv"].get<int>(), q["activation_points"].dump().c_str());
  std::printf("  kernels: %s\n", q["kernels"].get<std::string>().c_str());
  std::printf("  file size: %.2f MB (floating point: %.2f MB)\n", megabytes(a.out), megabytes(a.model));
  if (!a.json.empty()) vqa::writeJsonFileAtomic(a.json, summary, 2);
}

}  // namespace

static vqa::cli::Registrar reg(
    "quantize", "Calibrate an engine model on a dataset split and write its W8A8 (int8) model",
    [](CLI::App& app) {
      auto a = std::make_shared<QuantizeArgs>();
      app.add_option("--model", a->model, "floating point engine model (vqa train)")->required()->type_name("MODEL");
      app.add_option("--data", a->data, "dataset folder whose split calibrates (CLEVR layout)")->required()->type_name("DIR");
      app.add_option("--split", a->split, "split to calibrate on")->capture_default_str();
      app.add_option("--out", a->out, "the quantized model")->required()->type_name("MODEL_INT8");
      app.add_option("--calibration-images", a->images, "images run through the scene parser")
          ->check(CLI::Range(1, 100000))->capture_default_str();
      app.add_option("--calibration-questions", a->questions, "questions run through the program parser")
          ->check(CLI::Range(1, 1000000))->capture_default_str();
      app.add_option("--batch-size", a->options.batch_size, "calibration batch size")
          ->check(CLI::Range(1, 1024))->capture_default_str();
      app.add_option("--percentile", a->options.percentile,
                     "activation range percentile per batch (0: min-max; else in (50, 100))")
          ->check(CLI::Range(0.0, 100.0))->capture_default_str();
      app.add_option("--threads", a->threads, "torch intra-op threads")->check(CLI::Range(1, 256))->capture_default_str();
      app.add_option("--json", a->json, "also write the summary (sizes, what was quantized) as JSON")->type_name("FILE");
      app.callback([a] {
        if (a->options.percentile != 0.0 && !(a->options.percentile > 50.0 && a->options.percentile < 100.0))
          throw std::runtime_error("--percentile: must be 0 or in (50, 100)");
        run(*a);
      });
    });
