// Bench: trains the ProgramParser on the questions of images below a split point of a CLEVR questions file and
// reports program exact-match (greedy, type-checked decoding) and token accuracy on the questions of the other
// images, with the training wall time and every setting.
// Usage: bench_program_parser --questions FILE [--split-image 900] [--steps 1500] [--threads 2] [--seed 0]
#include <torch/utils.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "core/typed_program.h"
#include "datasets/clevr/clevr_io.h"
#include "hopfield/threads.h"
#include "program/program_parser.h"

using namespace vqa;
using namespace vqa::program;

int main(int argc, char** argv) {
  std::string questions;
  int split_image = 900, threads = 2;
  int64_t steps = 1500;
  uint64_t seed = 0;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--questions") questions = next();
      else if (a == "--split-image") split_image = std::stoi(next());
      else if (a == "--steps") steps = std::stoll(next());
      else if (a == "--threads") threads = std::stoi(next());
      else if (a == "--seed") seed = std::stoull(next());
      else throw std::runtime_error("unknown option " + a);
    }
    if (questions.empty()) throw std::runtime_error("--questions FILE is required");
    if (steps < 1 || threads < 1 || threads > 256) throw std::runtime_error("--steps >= 1, --threads 1..256");
    hopfield::set_compute_threads(threads);
    const auto file = readClevrQuestions(questions);
    std::vector<std::string> train_text;
    for (const auto& q : file.questions)
      if (q.image_index < split_image) train_text.push_back(q.question);
    const QuestionTokenizer tokenizer = QuestionTokenizer::build(train_text);
    ProgramParserOptions o;
    o.question_vocab_size = tokenizer.size();
    o.model_size = 64;
    o.num_heads = 4;
    o.encoder_layers = 2;
    o.decoder_layers = 2;
    o.max_question_tokens = 64;
    o.max_program_tokens = 48;
    std::vector<ProgramExample> train, test;
    for (const auto& q : file.questions) {
      if (!q.has_program) continue;
      ProgramExample e{encodeQuestionForParser(tokenizer, q.question, o.max_question_tokens),
                       toPostfix(resolveProgram(q.program))};
      (q.image_index < split_image ? train : test).push_back(e);
    }
    if (train.empty() || test.empty()) throw std::runtime_error("--split-image leaves no training or no test question");
    std::printf("settings: %zu training questions (images < %d), %zu test questions, vocabulary %lld words, d=%lld "
                "heads=%lld enc=%lld dec=%lld %s, %lld steps x batch 64, lr 2e-3 (100 warm-up), seed %llu, %d threads\n",
                train.size(), split_image, test.size(), (long long)tokenizer.size(), (long long)o.model_size,
                (long long)o.num_heads, (long long)o.encoder_layers, (long long)o.decoder_layers,
                hopfield::attention_kind_name(o.association.kind).c_str(), (long long)steps, (unsigned long long)seed, threads);
    torch::manual_seed(seed);
    ProgramParser model(o);
    ProgramTrainingOptions t;
    t.steps = steps;
    t.batch_size = 64;
    t.learning_rate = 2e-3;
    t.warmup_steps = 100;
    t.seed = seed;
    const auto report = trainProgramParser(model, train, t, [](int64_t step, double loss) {
      if (step % 100 == 0) std::printf("step %lld loss %.4f\n", (long long)step, loss), std::fflush(stdout);
    });
    const auto start = std::chrono::steady_clock::now();
    const double token_accuracy = programTokenAccuracy(model, test);
    const double exact_match = programExactMatch(model, test);
    const double eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("train %.1f s, final loss %.4f; test token accuracy %.4f, program exact-match %.4f (eval %.1f s)\n",
                report.seconds, report.final_loss, token_accuracy, exact_match, eval_seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_program_parser: %s\n", e.what());
    return 1;
  }
  return 0;
}
