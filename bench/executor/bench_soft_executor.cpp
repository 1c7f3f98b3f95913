// The differentiable executor on a CLEVR scenes/questions pair (default: the real CLEVR samples in the shared
// data folder): first exactness, every question run by the symbolic executor and by the SoftExecutor on one-hot
// scenes and programs, answers and every step's result compared; then speed, questions/s of SoftExecutor::run
// at batch sizes 1, 64 and 512 on 1 and 2 threads (forward, no gradients), and forward + backward to the token
// distributions at batch 512. Questions are cycled to fill the batches.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "bench_timer.h"
#include "datasets/clevr/clevr_io.h"
#include "executor/soft_executor.h"
#include "executor/symbolic_executor.h"
#include "hopfield/threads.h"

using namespace vqa;

namespace {

struct Batch {
  at::Tensor tokens;
  SoftScene scene;
};

// The largest difference between a soft step result and the symbolic step value (0 when exact).
double stepDifference(const Value& expected, const at::Tensor& mass, const at::Tensor& answer) {
  at::Tensor want_mass = at::zeros_like(mass), want_answer = at::zeros_like(answer);
  if (expected.kind == Value::Kind::ObjectSet || expected.kind == Value::Kind::Object) {
    for (int o : expected.objects) want_mass[o] = 1.0f;
  } else {
    want_answer[clevr::answerIndex(expected.answer())] = 1.0f;
  }
  return std::max((mass - want_mass).abs().max().item<double>(), (answer - want_answer).abs().max().item<double>());
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("VQA_SHARED_DIR");
  const std::string shared = env && *env ? env : VQA_DEFAULT_SHARED_DIR;
  std::string scenes_path = shared + "/data/clevr-real/scenes/CLEVR_train_scenes_first1000.json";
  std::string questions_path = shared + "/data/clevr-real/questions/CLEVR_train_questions_q0-39.json";
  double min_seconds = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--scenes"))
      scenes_path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--questions"))
      questions_path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--seconds"))
      min_seconds = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_soft_executor [--scenes FILE] [--questions FILE] [--seconds S]\n");
      return 2;
    }
  }
  try {
    const ClevrScenes scenes = readClevrScenes(scenes_path);
    const ClevrQuestions questions = readClevrQuestions(questions_path);
    std::map<std::pair<std::string, int>, size_t> scene_of;
    for (size_t k = 0; k < scenes.scenes.size(); ++k)
      scene_of[{scenes.scenes[k].split, scenes.scenes[k].image_index}] = k;
    std::vector<std::vector<int>> programs;
    std::vector<int64_t> scene_index;
    size_t longest = 0;
    for (const auto& q : questions.questions) {
      auto it = scene_of.find({q.split.empty() ? scenes.scenes.front().split : q.split, q.image_index});
      if (it == scene_of.end() || !q.program_error.empty()) continue;
      programs.push_back(toPostfix(resolveProgram(q.program)));
      longest = std::max(longest, programs.back().size());
      scene_index.push_back(static_cast<int64_t>(it->second));
    }
    if (programs.empty()) throw std::runtime_error(questions_path + ": no question has a scene in " + scenes_path);
    const SoftScene all = SoftScene::fromSceneGraph(scenes.scenes);
    auto makeBatch = [&](int64_t size) {
      std::vector<std::vector<int>> p;
      std::vector<int64_t> s;
      for (int64_t k = 0; k < size; ++k) {
        p.push_back(programs[static_cast<size_t>(k) % programs.size()]);
        s.push_back(scene_index[static_cast<size_t>(k) % programs.size()]);
      }
      const at::Tensor index = at::tensor(at::ArrayRef<int64_t>(s), at::TensorOptions().dtype(at::kLong));
      return Batch{oneHotTokens(p, static_cast<int64_t>(longest)), selectScenes(all, index)};
    };
    const SoftExecutor executor;

    // Exactness: answers and every step against the symbolic executor, in batches of 512.
    {
      hopfield::set_compute_threads(1);
      at::NoGradGuard no_grad;
      int64_t answers_equal = 0, steps = 0, steps_equal = 0, symbolic_failures = 0;
      double worst = 0.0;
      std::vector<size_t> runnable;
      std::vector<ExecutionResult> symbolic;
      std::vector<std::vector<int>> node_of_position;
      size_t q = 0;
      for (const auto& question : questions.questions) {
        auto it = scene_of.find(
            {question.split.empty() ? scenes.scenes.front().split : question.split, question.image_index});
        if (it == scene_of.end() || !question.program_error.empty()) continue;
        ExecutionResult r = ClevrExecutor().run(question.program, scenes.scenes[it->second]);
        if (r.ok) {
          std::vector<int> nodes;
          toPostfix(resolveProgram(question.program), &nodes);
          node_of_position.push_back(nodes);
          runnable.push_back(q);
          symbolic.push_back(std::move(r));
        } else {
          ++symbolic_failures;
        }
        ++q;
      }
      for (size_t start = 0; start < runnable.size(); start += 512) {
        const size_t end = std::min(runnable.size(), start + 512);
        std::vector<std::vector<int>> p;
        std::vector<int64_t> s;
        for (size_t k = start; k < end; ++k) {
          p.push_back(programs[runnable[k]]);
          s.push_back(scene_index[runnable[k]]);
        }
        const at::Tensor index = at::tensor(at::ArrayRef<int64_t>(s), at::TensorOptions().dtype(at::kLong));
        const SoftExecution r = executor.run(oneHotTokens(p), selectScenes(all, index));
        const at::Tensor best = r.answer.argmax(1);
        for (size_t k = start; k < end; ++k) {
          const auto row = static_cast<int64_t>(k - start);
          answers_equal += clevr::answers()[static_cast<size_t>(best[row].item<int64_t>())] == symbolic[k].answer;
          for (size_t t = 0; t < p[k - start].size(); ++t, ++steps) {
            const double d = stepDifference(symbolic[k].outputs[static_cast<size_t>(node_of_position[k][t])],
                                            r.step_masses[row][static_cast<int64_t>(t)],
                                            r.step_answers[row][static_cast<int64_t>(t)]);
            worst = std::max(worst, d);
            steps_equal += d <= 1e-5;
          }
        }
      }
      std::printf(
          "Exactness on one-hot scenes and programs (%s): answers equal to the symbolic executor's "
          "%lld/%zu, step results within 1e-5 %lld/%lld (largest difference %.3g); %lld questions the "
          "symbolic executor refuses were left out\n\n",
          questions_path.c_str(), static_cast<long long>(answers_equal), runnable.size(),
          static_cast<long long>(steps_equal), static_cast<long long>(steps), worst,
          static_cast<long long>(symbolic_failures));
      std::fflush(stdout);
    }

    const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
    std::printf(
        "SoftExecutor speed | %zu questions from %s | scenes padded to %lld slots | %zu steps (longest "
        "program) | fp32 | stack depth %lld | association %s, retrieval beta %.0f | OMP_WAIT_POLICY=%s | "
        "at least %.1f s per figure\n\n",
        programs.size(), questions_path.c_str(), static_cast<long long>(all.numSlots()), longest,
        static_cast<long long>(executor.options().stack_depth),
        hopfield::attention_kind_name(executor.options().association.kind).c_str(), executor.options().retrieval_beta,
        wait_policy ? wait_policy : "(unset)", min_seconds);
    std::printf("%-8s %-8s %-9s %12s %14s\n", "threads", "openblas", "batch", "ms/batch", "questions/s");
    for (int threads : {1, 2}) {
      const int blas = hopfield::set_compute_threads(threads);
      for (int64_t size : {1, 64, 512}) {
        const Batch batch = makeBatch(size);
        at::NoGradGuard no_grad;
        const double ms =
            hopfield::bench::milliseconds_per_call([&] { executor.run(batch.tokens, batch.scene); }, min_seconds);
        std::printf("%-8d %-8d %-9lld %12.3f %14.0f\n", threads, blas, static_cast<long long>(size), ms,
                    1000.0 * static_cast<double>(size) / ms);
        std::fflush(stdout);
      }
      const Batch batch = makeBatch(512);
      const at::Tensor tokens = batch.tokens.clone().set_requires_grad(true);
      const double ms = hopfield::bench::milliseconds_per_call(
          [&] {
            const at::Tensor answer = executor.run(tokens, batch.scene).answer;
            torch::autograd::grad({answer.select(1, 0).sum()}, {tokens});
          },
          min_seconds);
      std::printf("%-8d %-8d %-9s %12.3f %14.0f   (forward + backward to the tokens)\n", threads, blas, "512", ms,
                  1000.0 * 512 / ms);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_soft_executor: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
