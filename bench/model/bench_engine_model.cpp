// Bench: a trained engine model (vqa train) answering the questions of a dataset split with ground-truth
// scenes: questions/s of the whole model at inference (type-checked decoding + the exact executor) per thread
// count and batch size, the latency of one question, and, from the model's metrics log, the training wall
// time until validation accuracy first reached 99%.
// Usage: bench_engine_model --model MODEL --data DIR [--split val] [--questions 2000] [--threads 1,2]
//                           [--batch-sizes 1,32,256]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hopfield/threads.h"
#include "model/engine_model.h"
#include "model/qa_data.h"

using namespace vqa;

int main(int argc, char** argv) {
  CLI::App app{"engine model inference speed and training time to 99% validation accuracy"};
  std::string model_path, data_dir, split = "val";
  int questions = 2000;
  std::vector<int> threads{1, 2}, batch_sizes{1, 32, 256};
  app.add_option("--model", model_path, "model file (vqa train)")->required();
  app.add_option("--data", data_dir, "dataset folder (CLEVR layout)")->required();
  app.add_option("--split", split, "split to answer")->capture_default_str();
  app.add_option("--questions", questions, "questions to answer per setting")->check(CLI::Range(1, 10000000));
  app.add_option("--threads", threads, "thread counts")->delimiter(',')->check(CLI::Range(1, 256));
  app.add_option("--batch-sizes", batch_sizes, "batch sizes")->delimiter(',')->check(CLI::Range(1, 65536));
  CLI11_PARSE(app, argc, argv);
  try {
    model::LoadedEngineModel loaded = model::loadEngineModel(model_path);
    const model::QaDataset data = model::openQaDataset(data_dir, split);
    std::vector<std::string> texts;
    std::vector<const SceneGraph*> scenes;
    for (size_t k = 0; k < data.questions.size() && static_cast<int>(texts.size()) < questions; ++k) {
      texts.push_back(data.questions[k].question);
      scenes.push_back(&data.scenes[data.scene_of[k]]);
    }
    std::printf("bench_engine_model: %s on %zu %s questions of %s\n", model_path.c_str(), texts.size(), split.c_str(),
                data_dir.c_str());
    std::printf("| threads | batch | questions/s | ms/question | accuracy |\n|---|---|---|---|---|\n");
    for (int t : threads) {
      hopfield::set_compute_threads(t);
      for (int b : batch_sizes) {
        const size_t n = b == 1 ? std::min<size_t>(texts.size(), 200) : texts.size();  // one at a time: fewer
        const auto start = std::chrono::steady_clock::now();
        int correct = 0;
        for (size_t s = 0; s < n; s += static_cast<size_t>(b)) {
          const size_t e = std::min(n, s + static_cast<size_t>(b));
          const auto answers = model::answerWithScenes(*loaded.model, {texts.begin() + s, texts.begin() + e},
                                                       {scenes.begin() + s, scenes.begin() + e}, b);
          for (size_t k = 0; k < answers.size(); ++k) correct += answers[k].answer == data.questions[s + k].answer;
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("| %d | %d | %.0f | %.2f | %.4f |\n", t, b, n / seconds, 1000 * seconds / n,
                    static_cast<double>(correct) / n);
      }
    }
    // Training wall time to 99% validation accuracy, from the log beside the model.
    std::ifstream log(model_path + ".metrics.jsonl");
    std::string line;
    double reached = -1, last_elapsed = 0, best = 0;
    while (std::getline(log, line)) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("elapsed_seconds")) last_elapsed = j["elapsed_seconds"].get<double>();
      if (j.contains("val")) {
        const double a = j["val"]["accuracy"].get<double>();
        best = std::max(best, a);
        if (a >= 0.99 && reached < 0) reached = j.value("elapsed_seconds", last_elapsed);
      }
    }
    if (reached >= 0) std::printf("training: validation accuracy first >= 99%% after %.0f s of training\n", reached);
    else std::printf("training: validation accuracy never reached 99%% in the log (best %.4f)\n", best);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_engine_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
