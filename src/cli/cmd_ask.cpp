// `vqa ask`: one image, one question (or many, one per line on stdin) through the whole engine: the answer
// and its probability, the program, and what each step attends; --explain draws it, --json writes it.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "core/errors.h"
#include "core/typed_program.h"
#include "datasets/json_file.h"
#include "hopfield/threads.h"
#include "model/ask_answer.h"
#include "model/engine_model.h"
#include "model/explain.h"
#include "model/pixel_answering.h"
#include "vision/image_io.h"

namespace {

struct AskArgs {
  std::string model, image, question, explain, json;
  int threads = 2, retry_samples = vqa::model::kDefaultRetrySamples;
  bool mirror_average = false;
};

// The human-readable answer, to OUT (stderr when stdout carries the JSON).
void printAnswer(FILE* out, const std::string& question, const vqa::model::PixelAnswer& a) {
  const auto& tokens = vqa::programTokens();
  std::fprintf(out, "question: %s\n", question.c_str());
  if (a.answer.empty()) std::fprintf(out, "answer: none (%s)\n", a.error.c_str());
  else std::fprintf(out, "answer: %s (p = %.4f)\n", a.answer.c_str(), a.probability);
  std::fprintf(out, "program: %s\n", vqa::tokensToString(a.program).c_str());
  for (size_t t = 0; t < a.program.size(); ++t) {
    std::fprintf(out, "  %2zu %-28s", t + 1, tokens.at(static_cast<size_t>(a.program[t])).text.c_str());
    if (!a.step_answers[t].empty()) std::fprintf(out, " -> %s", a.step_answers[t].c_str());
    else {
      int shown = 0;
      for (size_t i = 0; i < a.step_attention[t].size(); ++i)
        if (a.step_attention[t][i] >= 0.05) {
          std::fprintf(out, " %zu:%.2f", i, a.step_attention[t][i]);
          ++shown;
        }
      if (!shown) std::fprintf(out, " (no object)");
    }
    std::fprintf(out, "\n");
  }
}

// OUT.png for the first question; OUT-2.png, OUT-3.png ... for the next ones read from stdin.
std::string explainPath(const std::string& path, int k) {
  if (k == 0) return path;
  std::filesystem::path p(path);
  return (p.parent_path() / (p.stem().string() + "-" + std::to_string(k + 1) + p.extension().string())).string();
}

}  // namespace

static vqa::cli::Registrar reg(
    "ask", "Answer a question about an image: the answer, its probability, the program and each step's objects",
    [](CLI::App& app) {
      auto a = std::make_shared<AskArgs>();
      app.add_option("--model", a->model, "engine model with a scene parser (vqa train --scene vision)")
          ->required()->type_name("MODEL");
      app.add_option("--image", a->image, "the image (PNG or JPEG, CLEVR's 3:2 framing)")->required()->type_name("PNG");
      app.add_option("question", a->question, "the question (none: read questions from stdin, one per line)");
      app.add_option("--explain", a->explain,
                     "draw the detections and each step's attention to this PNG (stdin: OUT-2.png, ... for later questions)")
          ->type_name("OUT.png");
      app.add_option("--json", a->json, "write the answer as JSON (- for stdout, one line per question, the text going to stderr; a file: stdin questions as a list)")->type_name("FILE");
      app.add_option("--threads", a->threads, "torch intra-op threads")->check(CLI::Range(1, 256))->capture_default_str();
      app.add_option("--retry-samples", a->retry_samples,
                     "sampled programs tried where the greedy one cannot run on the detected scene (0: none)")
          ->check(CLI::Range(0, 1024))->capture_default_str();
      app.add_flag("--mirror-average", a->mirror_average, vqa::cli::kMirrorAverageHelp);
      app.callback([a] {
        const bool from_stdin = a->question.empty();
        if (!from_stdin)
          if (const std::string p = vqa::model::questionProblem(a->question); !p.empty()) throw std::runtime_error("question: " + p);
        if (!a->explain.empty()) vqa::cli::checkOutputFile("--explain", a->explain);
        if (!a->json.empty() && a->json != "-") vqa::cli::checkOutputFile("--json", a->json);
        vqa::hopfield::set_compute_threads(a->threads);
        const cv::Mat image = vqa::vision::readSceneImage(a->image);
        auto loaded = vqa::model::loadEngineModel(a->model);
        vqa::model::EngineModel& model = *loaded.model;
        vqa::model::requireSceneParser(model, a->model);
        if (a->mirror_average) model.vision->setMirrorAverage(true);
        const std::vector<vqa::model::ParsedImage> parsed = vqa::model::parseImages(model, {image}, 1);
        const vqa::model::ParsedImage& scene = parsed.front();
        // With --json -, stdout carries only the JSON (a line per question) and the text goes to stderr.
        FILE* text = a->json == "-" ? stderr : stdout;
        std::fprintf(text, "image: %s, %zu objects\n", a->image.c_str(), scene.objects.size());
        for (size_t i = 0; i < scene.objects.size(); ++i)
          std::fprintf(text, "  %zu %-28s at (%.0f, %.0f)  existence %.3f\n", i,
                      vqa::model::describeObject(scene.objects[i]).c_str(), scene.objects[i].pixel[0],
                      scene.objects[i].pixel[1], scene.objects[i].existence);

        nlohmann::json answers = nlohmann::json::array();
        int asked = 0, failed = 0;
        auto ask = [&](const std::string& question) {
          const auto answer = vqa::model::answerOnImages(model, {question}, {&scene}, 1, a->retry_samples).front();
          printAnswer(text, question, answer);
          nlohmann::json j = vqa::model::answerJson(question, scene, answer);
          if (!a->explain.empty()) {
            const std::string path = explainPath(a->explain, asked);
            vqa::writeFileAtomic(path, vqa::model::encodePng(vqa::model::drawExplanation(image, scene, question, answer)));
            std::fprintf(text, "explanation: %s\n", path.c_str());
            j["explanation"] = path;
          }
          if (a->json == "-") std::printf("%s\n", j.dump().c_str());
          answers.push_back(std::move(j));
          ++asked;
          std::fflush(stdout);
        };
        if (!from_stdin) ask(a->question);
        else {
          std::string line;
          int number = 0;
          while (std::getline(std::cin, line)) {
            ++number;
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines separate nothing
            if (const std::string p = vqa::model::questionProblem(line); !p.empty()) {
              std::cerr << "vqa: error: stdin line " << number << ": " << p << "\n";
              ++failed;
              continue;
            }
            ask(line);
          }
          if (asked + failed == 0) throw std::runtime_error("stdin: no question (give one as an argument or one per line)");
        }
        if (!a->json.empty() && a->json != "-")
          vqa::writeJsonFileAtomic(a->json, from_stdin ? answers : answers.front(), 2);
        if (failed) throw std::runtime_error(std::to_string(failed) + " of " + std::to_string(asked + failed) +
                                             " questions on stdin could not be asked (see above)");
      });
    });
