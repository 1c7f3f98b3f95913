// The Bigram-Backcopy study: its sequence generator (copy rule, <bos>, bigram support), the causal
// language model (no position sees a later token) and the per-seed aggregation of a tiny in-process run.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cmath>
#include <random>
#include <set>

#include "study/backcopy_model.h"
#include "study/backcopy_study.h"
#include "study/backcopy_task.h"

using namespace vqa::hopfield;
using namespace vqa::study;

TEST(BackcopyTask, SequencesStartWithBosAndObeyTheCopyRule) {
  const BigramBackcopy task;
  ASSERT_EQ(task.trigger_tokens().size(), 3u);
  EXPECT_EQ(task.bos(), 64);
  EXPECT_EQ(task.token_count(), 65);
  for (int64_t a = 0; a < 64; ++a) {
    double sum = 0;
    for (int64_t b = 0; b < 64; ++b) sum += task.transition(a, b);
    EXPECT_NEAR(sum, 1.0, 1e-9) << a;
  }
  std::mt19937_64 rng(3);
  int64_t copies = 0, bigram_steps = 0;
  std::set<int64_t> seen;
  for (int n = 0; n < 500; ++n) {
    const std::vector<int64_t> s = task.sample(rng);
    ASSERT_EQ(static_cast<int64_t>(s.size()), 64);
    ASSERT_EQ(s[0], task.bos());
    EXPECT_FALSE(task.is_trigger(s[1]));
    for (size_t i = 1; i < s.size(); ++i) {
      ASSERT_GE(s[i], 0);
      ASSERT_LT(s[i], 64) << "<bos> (or an out-of-range id) after position 0";
      seen.insert(s[i]);
      if (i + 1 < s.size() && task.is_trigger(s[i])) {
        ASSERT_EQ(s[i + 1], s[i - 1]) << "the token after a trigger copies the token before it";
        ++copies;
      } else if (i + 1 < s.size()) {
        EXPECT_GT(task.transition(s[i], s[i + 1]), 0.0);  // every other step is a bigram step
        ++bigram_steps;
      }
    }
  }
  EXPECT_GT(copies, 200);  // the rule was exercised, not vacuously true
  EXPECT_GT(bigram_steps, 3 * copies);  // copies are the rare case
  EXPECT_GT(seen.size(), 40u);
  // Seeded: the same generator state gives the same batch; another table seed gives another table.
  std::mt19937_64 r1(9), r2(9);
  EXPECT_EQ(task.batch(4, r1), task.batch(4, r2));
  BackcopyTaskOptions other;
  other.table_seed = 99;
  const BigramBackcopy task2(other);
  bool differs = task2.trigger_tokens() != task.trigger_tokens();
  for (int64_t b = 0; b < 64 && !differs; ++b) differs = task2.transition(0, b) != task.transition(0, b);
  EXPECT_TRUE(differs);
}

TEST(BackcopyModel, LaterTokensDoNotChangeEarlierLogits) {
  for (AttentionKind kind : {AttentionKind::Softmax, AttentionKind::Softmax1, AttentionKind::Clipped,
                             AttentionKind::Gated}) {
    torch::manual_seed(4);
    BackcopyModelOptions o;
    o.token_count = 65;
    o.max_length = 12;
    o.model_size = 16;
    o.num_heads = 2;
    o.ffn_size = 32;
    o.layers = 2;
    o.association.kind = kind;
    o.bias = kind == AttentionKind::Clipped;  // the protocol's default is none
    CausalHopfieldLM model(o);
    model->eval();
    int projection_biases = 0;
    for (const auto& p : model->named_parameters())
      if (p.key().find("proj.bias") != std::string::npos || p.key().find("ffn_in.bias") != std::string::npos)
        ++projection_biases;
    EXPECT_EQ(projection_biases, o.bias ? 2 * 5 : 0) << attention_kind_name(kind);
    at::NoGradGuard no_grad;
    at::Tensor tokens = at::randint(0, 64, {2, 12}, at::kLong);
    tokens.select(1, 0).fill_(64);
    const at::Tensor before = model(tokens);
    const std::vector<double> bos = model->bos_attention();
    ASSERT_EQ(bos.size(), 2u);
    for (double b : bos) {
      EXPECT_GT(b, 0.0);
      EXPECT_LE(b, 1.0);
    }
    at::Tensor changed = tokens.clone();
    changed.select(1, 7).fill_((tokens[0][7].item<int64_t>() + 5) % 64);
    const at::Tensor after = model(changed);
    EXPECT_TRUE(at::allclose(before.narrow(1, 0, 7), after.narrow(1, 0, 7), 1e-5, 1e-6))
        << attention_kind_name(kind) << ": positions before 7 saw token 7";
    EXPECT_GT((before.narrow(1, 7, 5) - after.narrow(1, 7, 5)).abs().max().item<double>(), 1e-4)
        << attention_kind_name(kind) << ": position 7 onwards must see the change";
  }
}

TEST(BackcopyStudy, TinyRunAveragesOverSeeds) {
  BackcopyStudyOptions o;
  o.variants = {AttentionKind::Softmax1};
  o.seed = 11;
  o.seeds = 2;
  o.steps = 40;
  o.batch_size = 8;
  o.model_size = 32;
  o.ffn_size = 64;
  o.layers = 2;
  o.eval_sequences = 32;
  o.calibration_batches = 1;
  int reports = 0;
  const BackcopyStudyResult r = run_backcopy_study(o, [&](const StudyProgress&) { ++reports; });
  EXPECT_GT(reports, 4);
  ASSERT_EQ(r.variants.size(), 1u);
  const BackcopyVariantResult& v = r.variants[0];
  ASSERT_EQ(v.per_seed.size(), 2u);
  EXPECT_EQ(v.per_seed[0].seed, 11u);
  EXPECT_EQ(v.per_seed[1].seed, 12u);
  EXPECT_NE(v.per_seed[0].fp_metric, v.per_seed[1].fp_metric);  // different seeds, different models
  EXPECT_NEAR(v.fp_metric, (v.per_seed[0].fp_metric + v.per_seed[1].fp_metric) / 2, 1e-12);
  EXPECT_NEAR(v.bos_attention, (v.per_seed[0].bos_attention + v.per_seed[1].bos_attention) / 2, 1e-12);
  for (const BackcopyRun& s : v.per_seed) {
    EXPECT_LT(s.fp_metric, std::log(64.0)) << "40 steps beat a uniform guess";
    EXPECT_TRUE(std::isfinite(s.w8a8_metric));
    ASSERT_EQ(s.tensors.size(), 8u);  // 4 per block
    ASSERT_EQ(s.tensors_no_bos.size(), 8u);
    EXPECT_EQ(s.tensors[0].name, "block0.attn");
    EXPECT_EQ(s.tensors[3].name, "block0.residual");
    EXPECT_EQ(s.tensors[0].samples, 32);
    ASSERT_EQ(s.bos_attention_per_layer.size(), 2u);
    EXPECT_NE(s.avg_kurtosis, s.avg_kurtosis_no_bos);
    // The FP32 loss is the copy and bigram losses weighted by their positions, so it lies between them.
    EXPECT_GT(s.copy_loss, 0.0);
    EXPECT_GT(s.bigram_loss, 0.0);
    EXPECT_NE(s.copy_loss, s.bigram_loss);
    EXPECT_GE(s.fp_metric, std::min(s.copy_loss, s.bigram_loss));
    EXPECT_LE(s.fp_metric, std::max(s.copy_loss, s.bigram_loss));
    // The attention-output figures are those of block<i>.attn alone.
    double kurtosis = 0, inf_norm = 0;
    for (const auto& t : s.tensors)
      if (t.name == "block0.attn" || t.name == "block1.attn") {
        kurtosis += t.avg_kurtosis / 2;
        inf_norm = std::max(inf_norm, t.avg_inf_norm);
      }
    EXPECT_NEAR(s.avg_kurtosis_attention, kurtosis, 1e-9);
    EXPECT_EQ(s.max_inf_norm_attention, inf_norm);
  }
  EXPECT_NE(backcopy_markdown(r).find("| softmax1 | "), std::string::npos);
  EXPECT_NE(backcopy_markdown(r).find(" ± "), std::string::npos);
}
