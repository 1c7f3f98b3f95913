// Tests of incremental, sampled and concept-grounded decoding: incremental decoding reproduces the teacher-forced
// logits (the slow exact path), sampling is reproducible and type-checked, the concept mask keeps filters to what
// the question names, phrases cover the real questions' programs, and the options survive their JSON form.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <set>
#include <string>
#include <vector>

#include "core/typed_program.h"
#include "datasets/clevr/clevr_io.h"
#include "program/concepts.h"
#include "program/program_parser.h"
#include "test_support.h"

namespace vqa::program {
namespace {

ProgramParserOptions smallOptions(hopfield::AttentionKind kind = hopfield::AttentionKind::Softmax1) {
  ProgramParserOptions o;
  o.question_vocab_size = 30;
  o.model_size = 32;
  o.num_heads = 4;
  o.encoder_layers = 2;
  o.decoder_layers = 2;
  o.max_question_tokens = 24;
  o.max_program_tokens = 28;
  o.association.kind = kind;
  return o;
}

TEST(Decoding, IncrementalStepsEqualTeacherForcedLogits) {
  for (auto kind : {hopfield::AttentionKind::Softmax1, hopfield::AttentionKind::Softmax,
                    hopfield::AttentionKind::Clipped, hopfield::AttentionKind::Gated}) {
    torch::manual_seed(3);
    ProgramParser model(smallOptions(kind));
    model->eval();
    at::NoGradGuard no_grad;
    const at::Tensor question = at::tensor({2, 5, 6, 7, 9, 3, 2, 8, 11, 3, 0, 0}, at::kLong).view({2, 6});
    const at::Tensor program = at::tensor({1, 3, 10, 12, 20, 15, 1, 3, 4, 25, 30, 40}, at::kLong).view({2, 6});
    auto [memory, padding] = model->encode(question);
    const at::Tensor full = model->decode(memory, padding, program);  // [2, 6, K]
    std::vector<at::Tensor> caches;
    for (int64_t t = 0; t < program.size(1); ++t) {
      const at::Tensor step = model->decodeStep(memory, padding, program.select(1, t), t, caches);
      EXPECT_TRUE(at::allclose(step, full.select(1, t), 1e-4, 1e-5))
          << "step " << t << " of " << hopfield::attention_kind_name(kind) << ": max difference "
          << (step - full.select(1, t)).abs().max().item<float>();
    }
  }
}

TEST(Decoding, SamplingIsReproducibleTypeCheckedAndScored) {
  torch::manual_seed(4);
  ProgramParser model(smallOptions());
  const std::vector<std::vector<int64_t>> questions{{2, 5, 6, 7, 3}, {2, 9, 10, 3}};
  DecodeOptions o;
  o.samples = 6;
  o.seed = 11;
  const auto a = model->decodeBatch(questions, o);
  const auto b = model->decodeBatch(questions, o);
  ASSERT_EQ(a.size(), 12u);
  std::set<std::vector<int>> distinct;
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].tokens, b[k].tokens);
    EXPECT_DOUBLE_EQ(a[k].log_probability, b[k].log_probability);
    EXPECT_LE(a[k].log_probability, 0.0);
    EXPECT_NO_THROW(validateProgram(toProgram(fromPostfix(a[k].tokens)))) << tokensToString(a[k].tokens);
    distinct.insert(a[k].tokens);
  }
  EXPECT_GT(distinct.size(), 2u) << "an untrained model's samples should differ";
  o.seed = 12;
  const auto c = model->decodeBatch(questions, o);
  bool differs = false;
  for (size_t k = 0; k < a.size(); ++k) differs = differs || a[k].tokens != c[k].tokens;
  EXPECT_TRUE(differs) << "another seed should give other samples";

  // Greedy decoding's log-probability is that of its own tokens under the restricted distributions.
  const auto greedy = model->decodeGreedyBatch(questions);
  for (const auto& g : greedy) {
    double sum = 0;
    for (size_t t = 0; t < g.tokens.size(); ++t) sum += std::log(g.distributions[t][g.tokens[t]].item<double>());
    sum += std::log(g.distributions[g.tokens.size()][kEndToken].item<double>());
    EXPECT_NEAR(g.log_probability, sum, 1e-4);
  }
}

TEST(Decoding, ConceptMaskFollowsTheQuestionsWords) {
  const std::vector<uint8_t> mask = conceptTokenMask("Is the big metallic ball left of the red block?");
  auto allowed = [&](const std::string& token) { return mask[programTokenIndex(token)] != 0; };
  for (const char* yes : {"filter_size[large]", "filter_material[metal]", "filter_shape[sphere]",
                          "filter_color[red]", "filter_shape[cube]", "relate[left]", "scene", "unique",
                          "count", "query_color", "same_shape", "equal_color"})
    EXPECT_TRUE(allowed(yes)) << yes;
  for (const char* no : {"filter_size[small]", "filter_material[rubber]", "filter_shape[cylinder]",
                         "filter_color[blue]", "relate[right]", "relate[behind]", "relate[front]"})
    EXPECT_FALSE(allowed(no)) << no;
  const std::vector<uint8_t> plural = conceptTokenMask("How many cylinders are in front of the tiny matte things?");
  EXPECT_TRUE(plural[programTokenIndex("filter_shape[cylinder]")]);
  EXPECT_TRUE(plural[programTokenIndex("filter_size[small]")]);
  EXPECT_TRUE(plural[programTokenIndex("filter_material[rubber]")]);
  EXPECT_TRUE(plural[programTokenIndex("relate[front]")]);
  EXPECT_FALSE(plural[programTokenIndex("filter_shape[cube]")]);

  // Masked decoding never uses a concept the question does not name.
  torch::manual_seed(5);
  ProgramParser model(smallOptions());
  const std::vector<std::vector<uint8_t>> masks{mask, plural};
  DecodeOptions o;
  o.samples = 8;
  o.token_masks = &masks;
  const auto decoded = model->decodeBatch({{2, 5, 6, 3}, {2, 7, 8, 3}}, o);
  for (size_t k = 0; k < decoded.size(); ++k)
    for (int token : decoded[k].tokens) EXPECT_TRUE(masks[k / 8][token]) << programTokens()[token].text;
}

// Phrases against a reference program: every filter run and relate step of the gold program is one of the
// question's phrases, pointing then expanding gives the program back, and the program points at every phrase
// (coversPhrases). Returns the number of pointers.
int checkPhrasesCover(const ClevrQuestion& q) {
  EXPECT_TRUE(q.has_program) << q.question;
  if (!q.has_program) return 0;
  const std::vector<int> gold = toPostfix(resolveProgram(q.program));
  const PhraseView view = phraseView(q.question);
  const int base = numProgramTokens();
  const std::vector<int> pointed = pointProgram(gold, view.chains, base);
  EXPECT_EQ(expandProgram(pointed, view.chains, base), gold) << q.question;
  EXPECT_TRUE(coversPhrases(pointed, view.chains, base)) << q.question << " -> " << view.question;
  int pointers = 0;
  for (int token : pointed) {
    EXPECT_TRUE(token >= base || (programTokens()[token].node.op != Op::Filter &&
                                  programTokens()[token].node.op != Op::Relate))
        << q.question << ": " << programTokens()[token].text << " is no phrase of " << view.question;
    pointers += token >= base;
  }
  EXPECT_EQ(view.question.find("cube"), std::string::npos) << view.question;
  // Dropping a pointer leaves a phrase unused.
  for (size_t k = 0; k < pointed.size(); ++k)
    if (pointed[k] >= base) {
      std::vector<int> dropped = pointed;
      dropped.erase(dropped.begin() + static_cast<long>(k));
      EXPECT_FALSE(coversPhrases(dropped, view.chains, base)) << q.question;
      break;
    }
  return pointers;
}

TEST(Decoding, PhrasesCoverTheRealQuestionsPrograms) {
  VQA_REQUIRE_SHARED(shared);
  int questions = 0, pointers = 0;
  for (const char* name : {"CLEVR_train_questions_q0-39.json", "CLEVR_val_questions_img0_7q.json"}) {
    const ClevrQuestions file = readClevrQuestions(shared + "/data/clevr-real/questions/" + name);
    for (const auto& q : file.questions) {
      pointers += checkPhrasesCover(q);
      ++questions;
    }
  }
  EXPECT_EQ(questions, 47);
  EXPECT_GT(pointers, 47);
}

// The same on questions generated from CLEVR's own templates (every family).
TEST(Decoding, PhrasesCoverGeneratedProgramsOfEveryFamily) {
  VQA_REQUIRE_SHARED(shared);
  const std::string dir = vqa::testing::scratchDir();
  const auto r = vqa::testing::runVqa("generate --out " + dir + " --images 150 --split val --seed 9 --no-images --threads 2"
                                      " --templates " + shared + "/data/clevr-gen/question_generation/CLEVR_1.0_templates");
  ASSERT_EQ(r.rc, 0) << r.err;
  const ClevrQuestions file = readClevrQuestions(dir + "/questions/CLEVR_val_questions.json");
  std::set<int> families;
  for (const auto& q : file.questions) {
    checkPhrasesCover(q);
    families.insert(q.question_family_index);
  }
  EXPECT_GE(file.questions.size(), 1000u);
  EXPECT_GE(families.size(), 85u);
}

// The placeholder text reads a relation's surface forms alike, and a phrase that names no filter is no
// placeholder (its program has no filter run there, unlike "the cubes"), so the parser can tell them apart.
TEST(Decoding, PhrasesReadRelationFormsAlikeAndThingsAsNoPlaceholder) {
  const PhraseView a = phraseView("Is there a cube to the left of the red sphere?");
  const PhraseView b = phraseView("Is there a block on the left side of the red ball?");
  const PhraseView c = phraseView("Is there a cube left of the red sphere?");
  EXPECT_EQ(a.question, b.question);
  EXPECT_EQ(a.question, c.question);
  EXPECT_EQ(a.chains, b.chains);
  ASSERT_EQ(a.chains.size(), 3u);
  EXPECT_EQ(a.chains[1], std::vector<int>{programTokenIndex("relate[left]")});
  EXPECT_EQ(phraseView("Is there a cube in front of the sphere?").chains[1],
            std::vector<int>{programTokenIndex("relate[front]")});

  const PhraseView things = phraseView("How many things are there?");
  EXPECT_EQ(things.question, phraseView("How many objects are there?").question);
  EXPECT_NE(things.question, phraseView("How many cubes are there?").question);
  EXPECT_NE(things.question.find("<thing>"), std::string::npos) << things.question;
  EXPECT_TRUE(things.chains.empty());
  const std::vector<int> count{programTokenIndex("scene"), programTokenIndex("count")};
  EXPECT_EQ(pointProgram(count, things.chains, numProgramTokens()), count);
  // "the big things": a phrase (it names a size), pointed at like any other.
  const PhraseView big = phraseView("How many big things are there?");
  ASSERT_EQ(big.chains.size(), 1u);
  EXPECT_EQ(big.chains[0], std::vector<int>{programTokenIndex("filter_size[large]")});
}

TEST(Decoding, OptionsSurviveTheirJsonForm) {
  ProgramParserOptions o = smallOptions(hopfield::AttentionKind::Clipped);
  o.association.clip_gamma = -0.05;
  const ProgramParserOptions back = ProgramParserOptions::fromJson(o.toJson());
  EXPECT_EQ(back.toJson(), o.toJson());
  nlohmann::json broken = o.toJson();
  broken.erase("model_size");
  EXPECT_THROW(ProgramParserOptions::fromJson(broken), std::runtime_error);
  broken = o.toJson();
  broken["attention"] = "cosine";
  EXPECT_THROW(ProgramParserOptions::fromJson(broken), std::exception);
  broken = o.toJson();
  broken["num_heads"] = -1;
  EXPECT_THROW(ProgramParserOptions::fromJson(broken), std::runtime_error);
}

}  // namespace
}  // namespace vqa::program
