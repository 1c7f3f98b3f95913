// Bench: generates a dataset and checks, from the files written and independently of the generator's own
// rejection code, the rules of CLEVR's generator: the share of scenes with each object count (CLEVR draws
// 3..10 uniformly), degenerate questions (re-run with each relate step replaced by the whole scene; CLEVR
// drops those from templates with a plain relate node), and empty filter steps (a union / intersect fed
// straight from `scene`). Exits 1 when a rule fails: a degenerate question, an empty filter step, or an
// object count outside 10-15% of scenes.
// Usage: bench_generator_rules [--images N] [--templates DIR] [--seed S] [--threads T] [--render] [--keep DIR]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/generator.h"
#include "executor/symbolic_executor.h"
#include "synth/clevr_rule_checks.h"

using namespace vqa::synth;

using vqa::synth::checks::degenerate;
using vqa::synth::checks::emptyFilterSteps;

int main(int argc, char** argv) {
  GenerateOptions opt;
  opt.images = 1000;
  opt.threads = 2;
  opt.render_images = false;
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
      else if (a == "--seed") opt.seed = std::stoull(next());
      else if (a == "--render") opt.render_images = true;
      else if (a == "--keep") keep = next();
      else throw std::runtime_error("unknown option " + a);
    }
    namespace fs = std::filesystem;
    fs::path dir = keep.empty() ? fs::temp_directory_path() / ("bench_generator_rules_" + std::to_string(::getpid()))
                                : fs::path(keep);
    opt.out_dir = dir.string();
    const std::string tdir = opt.templates.empty() ? defaultTemplateDir() : opt.templates;
    std::printf("settings: images %d, seed %llu, threads %d, templates %s, render %s\n", opt.images,
                static_cast<unsigned long long>(opt.seed), opt.threads, tdir.c_str(), opt.render_images ? "on" : "off");
    std::ostringstream log;
    GenerateStats st = generateDataset(opt, log);
    std::printf("generated %d images, %ld questions in %.1f s\n", st.images, st.questions, st.seconds);

    // Families whose template has a plain relate node: the ones CLEVR checks for degeneracy.
    std::set<int> relate_families;
    for (const auto& f : loadQuestionFamilies(tdir))
      for (const auto& n : f.tmpl.nodes)
        if (n.type == "relate") relate_families.insert(f.family_index);

    auto scenes = vqa::readClevrScenes((dir / "scenes" / "CLEVR_train_scenes.json").string());
    auto questions = vqa::readClevrQuestions((dir / "questions" / "CLEVR_train_questions.json").string());
    std::map<int, int> object_counts;
    for (const auto& s : scenes.scenes) object_counts[s.size()]++;
    vqa::ClevrExecutor ex;
    long checked = 0, degenerate_checked = 0, with_relate = 0, degenerate_any = 0, empty_steps = 0,
         empty_questions = 0;
    for (const auto& q : questions.questions) {
      const auto& scene = scenes.scenes.at(size_t(q.image_index));
      const bool has_relate = std::any_of(q.program.nodes.begin(), q.program.nodes.end(),
                                          [](const auto& n) { return n.function == "relate"; });
      if (has_relate) {
        ++with_relate;
        const bool d = degenerate(ex, q.program, scene, q.answer);
        degenerate_any += d;
        if (relate_families.count(q.question_family_index)) {
          ++checked;
          degenerate_checked += d;
        }
      }
      int e = emptyFilterSteps(q.program);
      empty_steps += e;
      empty_questions += e > 0;
    }
    bool ok = degenerate_checked == 0 && empty_steps == 0;
    std::printf("degenerate questions (CLEVR's rule: templates with a plain relate node): %ld of %ld\n",
                degenerate_checked, checked);
    std::printf("degenerate by the same test over every question with a relate step (CLEVR does not check the\n"
                "relate_filter* templates): %ld of %ld\n", degenerate_any, with_relate);
    std::printf("empty filter steps: %ld (in %ld of %zu questions)\n", empty_steps, empty_questions,
                questions.questions.size());
    std::printf("object counts (share of %zu scenes):", scenes.scenes.size());
    for (int k = 3; k <= 10; ++k) {
      const double share = 100.0 * object_counts[k] / std::max<size_t>(1, scenes.scenes.size());
      std::printf(" %d: %.1f%%", k, share);
      ok = ok && share >= 10.0 && share <= 15.0;
    }
    std::printf("\n%s\n", ok ? "all rules hold" : "RULE BROKEN");
    if (keep.empty()) fs::remove_all(dir);
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "bench_generator_rules: error: " << e.what() << "\n";
    return 1;
  }
}
