// `vqa eval-scenes`: runs a trained scene parser (its own file, or the one inside an engine) over a CLEVR-layout
// split and reports detection precision / recall / F1, per-attribute accuracy and confusion, relation accuracy,
// 3-D position error and, when questions exist, the oracle-program VQA accuracy on the predicted scenes.
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <unistd.h>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/json_file.h"
#include "hopfield/threads.h"
#include "model/scene_parser_source.h"
#include "vision/scene_data.h"
#include "vision/scene_metrics.h"
#include "vision/trainer.h"

namespace {
struct EvalScenesArgs {
  std::string model, data, split = "val", scenes, questions, json, scenes_out;
  int threads = 1, loader_threads = 2, batch_size = 8, max_images = 0;
  double detection_threshold = 0;  // 0: the model's
  bool allow_missing = false, mirror_average = false;
};
}  // namespace

static vqa::cli::Registrar reg(
    "eval-scenes", "Evaluate a scene parser on a CLEVR-layout split (detection, attributes, relations, positions)",
    [](CLI::App& app) {
      auto a = std::make_shared<EvalScenesArgs>();
      app.add_option("--model", a->model,
                     "scene parser model file (vqa train-vision), or an engine whose scene parser to evaluate")->required()->type_name("MODEL");
      app.add_option("--data", a->data, "dataset folder in CLEVR's v1.0 layout")->required()->type_name("DIR");
      app.add_option("--split", a->split, "split to evaluate")->capture_default_str();
      app.add_option("--scenes", a->scenes, "scenes file (default DIR/scenes/CLEVR_<split>_scenes.json)");
      app.add_option("--questions", a->questions,
                     "questions with programs for the oracle-program VQA figure (default DIR/questions/CLEVR_<split>_questions.json when present)");
      app.add_flag("--allow-missing", a->allow_missing, "evaluate only the scene records whose image exists");
      app.add_option("--max-images", a->max_images, "evaluate at most this many images (0: all)")->capture_default_str();
      app.add_option("--batch-size", a->batch_size, "images per forward pass")->capture_default_str();
      app.add_option("--threads", a->threads, "torch intra-op threads")->capture_default_str();
      app.add_option("--loader-threads", a->loader_threads, "image decoding threads")->capture_default_str();
      app.add_option("--detection-threshold", a->detection_threshold,
                     "existence probability a peak needs to count as an object (default: the model's)");
      app.add_flag("--mirror-average", a->mirror_average, vqa::cli::kMirrorAverageHelp);
      app.add_option("--json", a->json, "also write the results as JSON")->type_name("FILE");
      app.add_option("--scenes-out", a->scenes_out,
                     "also write the predicted scenes in CLEVR's scene format (one per evaluated image)")
          ->type_name("FILE");
      app.callback([a] {
        vqa::cli::checkPlainName("--split", a->split);
        auto range = [](const char* option, int v, int lo, int hi) {
          if (v < lo || v > hi)
            throw std::runtime_error(std::string(option) + ": must be in [" + std::to_string(lo) + ", " +
                                     std::to_string(hi) + "] (got " + std::to_string(v) + ")");
        };
        range("--threads", a->threads, 1, 256);
        range("--loader-threads", a->loader_threads, 1, 64);
        range("--batch-size", a->batch_size, 1, 1024);
        range("--max-images", a->max_images, 0, 10000000);
        if (!a->json.empty()) vqa::cli::checkOutputFile("--json", a->json);
        if (!a->scenes_out.empty()) vqa::cli::checkOutputFile("--scenes-out", a->scenes_out);
        vqa::hopfield::set_compute_threads(a->threads);
        auto loaded = vqa::model::loadSceneParserOrEngine(a->model);  // an engine's may run W8A8
        if (a->detection_threshold != 0) {
          try {
            loaded.parser->setDetectionThreshold(a->detection_threshold);
          } catch (const std::exception& e) {
            throw std::runtime_error(std::string("--detection-threshold: ") + e.what());
          }
        }
        if (a->mirror_average) loaded.parser->setMirrorAverage(true);
        auto data = vqa::vision::openSceneDataset(a->data, a->split, a->scenes, a->allow_missing);
        if (data.records.empty()) throw std::runtime_error(data.scenes_path + ": no scene record has its image");
        vqa::vision::EvaluateOptions eo;
        eo.batch_size = a->batch_size;
        eo.loader_threads = a->loader_threads;
        eo.max_images = a->max_images;
        std::vector<vqa::SceneGraph> predicted;
        if (!a->scenes_out.empty()) eo.predicted_scenes = &predicted;
        eo.questions_path = a->questions;
        const std::string default_questions = a->data + "/questions/CLEVR_" + a->split + "_questions.json";
        if (eo.questions_path.empty() && std::filesystem::exists(default_questions)) eo.questions_path = default_questions;
        const bool terminal = isatty(fileno(stderr));
        auto last = std::chrono::steady_clock::now();
        vqa::vision::SceneEvaluation evaluation;
        auto result = vqa::vision::evaluateSceneParser(
            loaded.parser, data, eo,
            [&](int done, int total) {
              const auto now = std::chrono::steady_clock::now();
              if (terminal) std::cerr << "\r\033[Keval-scenes: " << done << "/" << total << " images" << std::flush;
              else if (std::chrono::duration<double>(now - last).count() > 5 || done == total) {
                std::cerr << "eval-scenes: " << done << "/" << total << " images\n";
                last = now;
              }
            },
            &evaluation);
        if (terminal) std::cerr << "\n";
        result["model"] = a->model;
        result["scenes"] = data.scenes_path;
        result["missing_images"] = data.missing_images;
        std::cout << "eval-scenes: " << data.scenes_path << (data.missing_images ? " (" + std::to_string(data.missing_images) + " records without images skipped)" : "")
                  << "\n" << evaluation.summary() << "inference " << result["images_per_second"].get<double>()
                  << " images/s (" << a->threads << " torch threads)\n";
        if (!a->json.empty()) vqa::writeJsonFileAtomic(a->json, result, 2);
        if (!a->scenes_out.empty()) vqa::writeClevrScenes(a->scenes_out, predicted, vqa::clevrInfo(a->split));
      });
    });
