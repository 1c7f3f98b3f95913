// Bench: generates a dataset into a temporary folder and prints images/s and questions/s with the
// renderer's settings, then reads it back with the CLEVR readers and prints the question statistics:
// families present, the largest yes/no share in a family, the span of count answers, and the accuracy
// of the symbolic executor on the generated programs (must be 100%).
// Usage: bench_generate [--images N] [--threads T] [--templates DIR] [--no-images] [--seed S]
//                       [--questions-per-image K] [--set name=value ...] [--keep DIR]
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/generator.h"
#include "executor/symbolic_executor.h"

using namespace vqa::synth;

int main(int argc, char** argv) {
  GenerateOptions opt;
  opt.images = 20;
  opt.threads = 2;
  std::string keep;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--images") opt.images = std::stoi(next());
      else if (a == "--threads") opt.threads = std::stoi(next());
      else if (a == "--templates") opt.templates = next();
      else if (a == "--no-images") opt.render_images = false;
      else if (a == "--seed") opt.seed = std::stoull(next());
      else if (a == "--questions-per-image") opt.questions_per_image = std::stoi(next());
      else if (a == "--set") setRenderSetting(opt.render, next());
      else if (a == "--keep") keep = next();
      else throw std::runtime_error("unknown option " + a);
    }
    namespace fs = std::filesystem;
    fs::path dir = keep.empty() ? fs::temp_directory_path() / ("bench_generate_" + std::to_string(::getpid())) : fs::path(keep);
    opt.out_dir = dir.string();
    std::printf("settings: images %d, threads %d, %dx%d, questions/image %d, templates %s, render %s\n", opt.images,
                opt.threads, opt.render.width, opt.render.height, opt.questions_per_image,
                opt.templates.empty() ? defaultTemplateDir().c_str() : opt.templates.c_str(),
                opt.render_images ? "on" : "off");
    std::printf("renderer:\n%s", describeRenderSettings(opt.render).c_str());
    std::ostringstream log;
    GenerateStats st = generateDataset(opt, log);
    std::printf("generated %d images, %ld questions in %.2f s\n", st.images, st.questions, st.seconds);
    std::printf("images/s %.2f (scenes%s: %.2f s)\n", st.images / st.scene_seconds,
                opt.render_images ? " + rendering" : " only", st.scene_seconds);
    std::printf("questions/s %.1f (question engine alone: %.2f s)\n", st.questions / st.question_seconds,
                st.question_seconds);

    auto scenes = vqa::readClevrScenes((dir / "scenes" / "CLEVR_train_scenes.json").string());
    auto questions = vqa::readClevrQuestions((dir / "questions" / "CLEVR_train_questions.json").string());
    vqa::ClevrExecutor ex;
    size_t correct = 0;
    std::map<int, std::map<std::string, int>> per_family;
    std::set<int> counts;
    for (const auto& q : questions.questions) {
      auto r = ex.run(q.program, scenes.scenes.at(size_t(q.image_index)));
      if (r.ok && r.answer == q.answer) ++correct;
      per_family[q.question_family_index][q.answer]++;
      if (q.answer.size() <= 2 && std::isdigit(static_cast<unsigned char>(q.answer[0]))) counts.insert(std::stoi(q.answer));
    }
    double worst_yes_no = 0;
    int worst_family = -1;
    for (const auto& [fam, answers] : per_family) {
      if (!answers.count("yes") && !answers.count("no")) continue;
      int y = answers.count("yes") ? answers.at("yes") : 0, n = answers.count("no") ? answers.at("no") : 0;
      double share = double(std::max(y, n)) / (y + n);
      if (share > worst_yes_no) { worst_yes_no = share; worst_family = fam; }
    }
    std::printf("read back: %zu scenes, %zu questions; executor agrees on %zu (%.2f%%)\n", scenes.scenes.size(),
                questions.questions.size(), correct, 100.0 * correct / std::max<size_t>(1, questions.questions.size()));
    std::printf("families present %zu of %d\n", per_family.size(), st.families_total);
    std::printf("largest yes/no share in a family: %.1f%% (family %d)\n", 100 * worst_yes_no, worst_family);
    if (!counts.empty()) std::printf("count answers span %d..%d\n", *counts.begin(), *counts.rbegin());
    if (keep.empty()) fs::remove_all(dir);
  } catch (const std::exception& e) {
    std::cerr << "bench_generate: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
