// Tests of the GQA program model: incremental decoding steps equal the teacher-forced forward pass, a word can
// be written by copying it from the question, and the loss counts exactly the target tokens some output writes.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "program/gqa_program_parser.h"

namespace vqa::program {
namespace {

struct Fixture {
  QuestionTokenizer tokenizer = QuestionTokenizer::build({"What is on the white wall?", "Is the sky dark?"});
  GqaProgramVocabulary vocabulary = GqaProgramVocabulary::build(
      {{"<select>", "wall", "<sep>", "<query>", "<attr:name>", "<dep1>", "<end>"}});
  GqaProgramParser model{nullptr};
  Fixture() {
    ProgramParserOptions o;
    o.question_vocab_size = tokenizer.size();
    o.model_size = 16;
    o.num_heads = 2;
    o.encoder_layers = o.decoder_layers = 2;
    o.max_question_tokens = 16;
    o.max_program_tokens = 24;
    at::manual_seed(3);
    model = GqaProgramParser(o, vocabulary.size());
    model->eval();
  }
  GqaProgramExample example(const std::string& question, std::vector<std::string> tokens) const {
    GqaProgramExample e = makeGqaProgramExample(tokenizer, question, 16);
    e.tokens = std::move(tokens);
    return e;
  }
};

TEST(GqaProgramParser, IncrementalStepsEqualTheTeacherForcedPass) {
  Fixture f;
  const std::vector<GqaProgramExample> examples = {
      f.example("What is on the white wall?", {"<select>", "wall", "<sep>", "<filter>", "<attr:color>", "white",
                                               "<sep>", "<dep1>", "<query>", "<attr:name>", "<dep1>", "<end>"}),
      f.example("Is the sky dark?", {"<select>", "sky", "<sep>", "<exist>", "<dep1>", "<end>"})};
  const GqaProgramBatch batch = makeGqaProgramBatch(f.model, f.vocabulary, examples, {0, 1});
  at::NoGradGuard no_grad;
  const at::Tensor full = f.model->forward(batch.question, batch.inputs, batch.copy_from);
  const auto [memory, padding] = f.model->encode(batch.question);
  std::vector<at::Tensor> caches;
  for (int64_t t = 0; t < batch.inputs.size(1); ++t) {
    const at::Tensor step = f.model->decodeStep(memory, padding, batch.inputs.select(1, t), batch.copy_from.select(1, t),
                                                t, caches);
    const at::Tensor want = full.select(1, t);
    const at::Tensor finite = want.isfinite();
    EXPECT_TRUE(step.isfinite().equal(finite)) << "step " << t;
    EXPECT_TRUE(at::allclose(step.masked_fill(finite.logical_not(), 0), want.masked_fill(finite.logical_not(), 0),
                             1e-4, 1e-5))
        << "step " << t;
  }
  // "white" and "sky" are not in the vocabulary: the copy inputs point at their question positions (1-based).
  EXPECT_EQ(batch.copy_from[0][6].item<int64_t>(), 5);  // "what is on the white": position 5
  EXPECT_EQ(batch.inputs[0][6].item<int64_t>(), GqaProgramVocabulary::kUnknownWord);
  EXPECT_EQ(batch.copy_from[1][2].item<int64_t>(), 3);
}

TEST(GqaProgramParser, LossCountsTheTokensSomeOutputWrites) {
  Fixture f;
  const std::vector<GqaProgramExample> examples = {
      f.example("Is the sky dark?", {"<select>", "cloud", "<sep>", "<exist>", "<dep1>", "<end>"})};
  const GqaProgramBatch batch = makeGqaProgramBatch(f.model, f.vocabulary, examples, {0});
  // "cloud" is neither in the vocabulary nor in the question: the one target no output writes.
  EXPECT_EQ(batch.counted.sum().item<int64_t>(), 5);
  EXPECT_FALSE(batch.counted[0][1].item<bool>());
  const int64_t V = f.vocabulary.size();
  EXPECT_TRUE(batch.correct[0][0][f.vocabulary.find("<select>")].item<bool>());
  EXPECT_EQ(batch.correct[0][0].sum().item<int64_t>(), 1);
  // The loss equals the mean of -log softmax at the correct outputs (a reference computed here directly).
  const at::Tensor logits = f.model->forward(batch.question, batch.inputs, batch.copy_from);
  const at::Tensor log_p = at::log_softmax(logits, -1);
  double want = 0;
  for (int64_t t : {0, 2, 3, 4, 5}) {
    const int64_t id = f.vocabulary.find(examples[0].tokens[static_cast<size_t>(t)]);
    want -= log_p[0][t][id].item<double>();
  }
  EXPECT_NEAR(gqaProgramLoss(logits, batch).item<double>(), want / 5, 1e-5);
  EXPECT_EQ(logits.size(2), V + batch.question.size(1));
}

}  // namespace
}  // namespace vqa::program
