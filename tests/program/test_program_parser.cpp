// Tests of the ProgramParser: shapes and causal masking of the teacher-forced forward pass, type-checked greedy
// decoding (every decoded program runs, even from an untrained model), memorisation of the real CLEVR questions,
// and questions that are empty, of unknown words or far too long.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/program.h"
#include "core/typed_program.h"
#include "datasets/clevr/clevr_io.h"
#include "program/program_parser.h"
#include "program/tokenizer.h"
#include "test_support.h"

namespace vqa::program {
namespace {

ProgramParserOptions tinyOptions(int64_t vocab) {
  ProgramParserOptions o;
  o.question_vocab_size = vocab;
  o.model_size = 32;
  o.num_heads = 4;
  o.encoder_layers = 1;
  o.decoder_layers = 1;
  o.max_question_tokens = 48;
  o.max_program_tokens = 40;
  return o;
}

// Every decoded program converts to a valid CLEVR program, and each step chose a token that fit.
void expectRunnable(const DecodedProgram& decoded, int64_t max_steps) {
  ASSERT_LE(static_cast<int64_t>(decoded.tokens.size()) + 1, max_steps);
  std::vector<int> prefix;
  for (int token : decoded.tokens) {
    ASSERT_TRUE(tokenFits(postfixStackTypes(prefix), token)) << tokensToString(decoded.tokens);
    prefix.push_back(token);
  }
  ASSERT_TRUE(tokenFits(postfixStackTypes(prefix), kEndToken)) << tokensToString(decoded.tokens);
  const Program program = toProgram(fromPostfix(decoded.tokens));
  EXPECT_NO_THROW(validateProgram(program)) << tokensToString(decoded.tokens);
  ASSERT_EQ(decoded.distributions.size(0), static_cast<int64_t>(decoded.tokens.size()) + 1);
  ASSERT_EQ(decoded.distributions.size(1), numProgramTokens());
  const at::Tensor sums = decoded.distributions.sum(1);
  EXPECT_TRUE(at::allclose(sums, at::ones_like(sums), 1e-5, 1e-5));
  for (size_t t = 0; t < decoded.tokens.size(); ++t)
    EXPECT_EQ(decoded.distributions[t].argmax().item<int64_t>(), decoded.tokens[t]);
}

TEST(ProgramParser, ForwardShapesAndCausalMasking) {
  torch::manual_seed(0);
  ProgramParser model(tinyOptions(20));
  model->eval();
  const at::Tensor question = at::tensor({2, 5, 6, 7, 3, 2, 8, 3, 0, 0}, at::kLong).view({2, 5});
  at::Tensor program = at::tensor({1, 3, 10, 12, 20, 1, 3, 4, 0, 0}, at::kLong).view({2, 5});
  const at::Tensor logits = model->forward(question, program);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 5, numProgramTokens()}));
  EXPECT_TRUE(logits.isfinite().all().item<bool>());

  // Changing input step 3 changes the logits at steps >= 3 only.
  at::Tensor changed = program.clone();
  changed[0][3] = 30;
  changed[1][3] = 31;
  const at::Tensor after = model->forward(question, changed);
  EXPECT_TRUE(at::allclose(logits.slice(1, 0, 3), after.slice(1, 0, 3), 1e-5, 1e-6));
  EXPECT_FALSE(at::allclose(logits.slice(1, 3), after.slice(1, 3), 1e-5, 1e-6));

  // Question padding does not leak into the result.
  const at::Tensor padded = at::cat({question, at::zeros({2, 3}, at::kLong)}, 1);
  EXPECT_TRUE(at::allclose(logits, model->forward(padded, program), 1e-4, 1e-5));
}

TEST(ProgramParser, UntrainedDecodingAlwaysRuns) {
  for (auto kind : {hopfield::AttentionKind::Softmax1, hopfield::AttentionKind::Softmax,
                    hopfield::AttentionKind::Clipped, hopfield::AttentionKind::Gated}) {
    for (int seed = 0; seed < 3; ++seed) {
      torch::manual_seed(seed);
      ProgramParserOptions o = tinyOptions(30);
      o.association.kind = kind;
      o.max_program_tokens = 12 + 4 * seed;  // tight budgets force the decoder to wrap up
      ProgramParser model(o);
      // Large output weights make an untrained model's choices erratic.
      {
        at::NoGradGuard no_grad;
        model->output->weight.mul_(20.0);
      }
      std::mt19937 random(seed);
      std::vector<std::vector<int64_t>> questions;
      for (int q = 0; q < 16; ++q) {
        std::vector<int64_t> ids{QuestionTokenizer::kStart};
        const int words = static_cast<int>(random() % 20);
        for (int w = 0; w < words; ++w) ids.push_back(4 + static_cast<int64_t>(random() % 26));
        ids.push_back(QuestionTokenizer::kEnd);
        questions.push_back(ids);
      }
      for (const DecodedProgram& decoded : model->decodeGreedyBatch(questions))
        expectRunnable(decoded, o.max_program_tokens);
    }
  }
}

TEST(ProgramParser, OddQuestionsDecodeWithoutCrashing) {
  const QuestionTokenizer tokenizer = QuestionTokenizer::build({"Is there a red cube?", "How many spheres?"});
  const ProgramParserOptions o = tinyOptions(tokenizer.size());
  torch::manual_seed(1);
  ProgramParser model(o);
  const std::vector<int64_t> empty = encodeQuestionForParser(tokenizer, "", o.max_question_tokens);
  EXPECT_EQ(empty, (std::vector<int64_t>{QuestionTokenizer::kStart, QuestionTokenizer::kEnd}));
  const std::vector<int64_t> unknown = encodeQuestionForParser(tokenizer, "zorp blick quux", o.max_question_tokens);
  EXPECT_EQ(unknown[1], QuestionTokenizer::kUnknown);
  std::string huge;
  for (int i = 0; i < 2000; ++i) huge += "red cube ";
  const std::vector<int64_t> long_ids = encodeQuestionForParser(tokenizer, huge, o.max_question_tokens);
  EXPECT_EQ(static_cast<int64_t>(long_ids.size()), o.max_question_tokens);
  EXPECT_EQ(long_ids.back(), QuestionTokenizer::kEnd);
  for (const auto& ids : {empty, unknown, long_ids}) expectRunnable(model->decodeGreedy(ids), o.max_program_tokens);
  // Ids outside the vocabulary are read as <unk>.
  expectRunnable(model->decodeGreedy({2, 999, -5, 3}), o.max_program_tokens);
}

TEST(ProgramParser, MemorisesTheRealQuestions) {
  VQA_REQUIRE_SHARED(shared);
  const ClevrQuestions file =
      readClevrQuestions(shared + "/data/clevr-real/questions/CLEVR_train_questions_q0-39.json");
  std::vector<std::string> texts;
  for (const auto& q : file.questions) texts.push_back(q.question);
  const QuestionTokenizer tokenizer = QuestionTokenizer::build(texts);
  ProgramParserOptions o = tinyOptions(tokenizer.size());
  o.model_size = 64;
  o.max_question_tokens = 64;
  o.max_program_tokens = 48;
  std::vector<ProgramExample> examples;
  for (const auto& q : file.questions) {
    ASSERT_TRUE(q.has_program) << q.question;
    examples.push_back({encodeQuestionForParser(tokenizer, q.question, o.max_question_tokens),
                        toPostfix(resolveProgram(q.program))});
  }
  ASSERT_EQ(examples.size(), 40u);
  torch::manual_seed(0);
  ProgramParser model(o);
  const double before = programTokenAccuracy(model, examples);
  EXPECT_LT(before, 0.5);
  ProgramTrainingOptions training;
  training.steps = 100;
  training.batch_size = 40;
  training.learning_rate = 3e-3;
  training.warmup_steps = 10;
  const ProgramTrainingReport report = trainProgramParser(model, examples, training);
  EXPECT_EQ(report.steps, 100);
  const double after = programTokenAccuracy(model, examples);
  std::printf("token accuracy %.3f before training, %.3f after %lld steps (%.1f s)\n", before, after,
              static_cast<long long>(report.steps), report.seconds);
  EXPECT_GE(after, 0.9) << "loss " << report.final_loss;
  EXPECT_LT(report.final_loss, 0.5);
  std::vector<std::vector<int64_t>> questions;
  for (const auto& e : examples) questions.push_back(e.question);
  const std::vector<DecodedProgram> decoded = model->decodeGreedyBatch(questions);
  int exact = 0;
  for (size_t i = 0; i < decoded.size(); ++i) {
    expectRunnable(decoded[i], o.max_program_tokens);
    exact += decoded[i].tokens == examples[i].program;
  }
  EXPECT_GE(exact, 20);
}

}  // namespace
}  // namespace vqa::program
