// Outlier statistics, the study's question generator, and a tiny end-to-end study run.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "hopfield/outlier_study.h"
#include "hopfield/outliers.h"
#include "hopfield/question_task.h"

using namespace vqa::hopfield;

TEST(Outliers, KurtosisOfGaussianIsThreeAndInfNormIsMaxAbs) {
  at::manual_seed(12);
  at::Tensor x = at::randn({4, 100, 200}, at::kDouble);
  at::Tensor k = per_sample_kurtosis(x);
  EXPECT_EQ(k.size(0), 4);
  EXPECT_NEAR(k.mean().item<double>(), 3.0, 0.1);
  // One huge activation per sample: kurtosis explodes (roughly n for a single spike).
  at::Tensor spiked = x.clone();
  spiked.select(1, 3).select(1, 7).fill_(1000.0);
  EXPECT_GT(per_sample_kurtosis(spiked).min().item<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(per_sample_inf_norm(spiked)[2].item<double>(), 1000.0);
  // Exact value on a small example: x = [0, 0, 0, 4] -> mean 1, unbiased var 4, E[(x-1)^4] = (3*1 + 81)/4 = 21.
  at::Tensor small = at::tensor({0.0, 0.0, 0.0, 4.0}, at::kDouble).view({1, 4});
  EXPECT_NEAR(per_sample_kurtosis(small).item<double>(), 21.0 / (16.0 + 1e-6), 1e-9);
}

TEST(Outliers, RegistryAveragesOverSamplesThenAcrossTensors) {
  OutlierStats stats;
  at::Tensor a = at::tensor({0.0, 0.0, 0.0, 4.0, 1.0, -2.0, 1.0, -2.0}, at::kDouble).view({2, 4});
  stats.record("a", a.narrow(0, 0, 1));
  stats.record("a", a.narrow(0, 1, 1));
  stats.record("b", at::ones({3, 2}) * 5.0);
  auto rows = stats.summary();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "a");
  EXPECT_EQ(rows[0].samples, 2);
  EXPECT_NEAR(rows[0].avg_inf_norm, (4.0 + 2.0) / 2.0, 1e-12);
  const double k0 = per_sample_kurtosis(a.narrow(0, 0, 1)).item<double>();
  const double k1 = per_sample_kurtosis(a.narrow(0, 1, 1)).item<double>();
  EXPECT_NEAR(rows[0].avg_kurtosis, (k0 + k1) / 2.0, 1e-9);
  EXPECT_NEAR(stats.average_kurtosis(), (rows[0].avg_kurtosis + rows[1].avg_kurtosis) / 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(stats.max_inf_norm(), 5.0);
}

TEST(QuestionTask, TagsCarryContext) {
  ClevrStyleTagging task(40);
  std::mt19937_64 rng(1);
  std::set<std::string> and_tags, the_tags, big_tags, roots;
  for (int i = 0; i < 3000; ++i) {
    TaggedQuestion q = task.sample(rng);
    ASSERT_EQ(q.words.size(), q.tags.size());
    ASSERT_EQ(q.words.back(), "?");
    roots.insert(q.tags.back());
    for (size_t t = 0; t < q.words.size(); ++t) {
      task.word_id(q.words[t]);  // throws on an unknown word
      task.tag_id(q.tags[t]);
      if (q.words[t] == "and") and_tags.insert(q.tags[t]);
      if (q.words[t] == "the") the_tags.insert(q.tags[t]);
      if (q.words[t] == "big") big_tags.insert(q.tags[t]);
      if (q.words[t] == "block") {
        EXPECT_EQ(q.tags[t], "filter_shape[cube]");
      }
      if (q.words[t] == "shiny") {
        EXPECT_EQ(q.tags[t], "filter_material[metal]");
      }
    }
  }
  EXPECT_EQ(and_tags, (std::set<std::string>{"union", "intersect", "none"}));
  EXPECT_EQ(the_tags, (std::set<std::string>{"unique", "none"}));
  EXPECT_EQ(big_tags, (std::set<std::string>{"filter_size[large]", "none"}));
  EXPECT_EQ(roots.size(), 13u);  // exist, count, 4 query_*, 4 equal_*, 3 number comparisons
  // Same seed, same questions.
  std::mt19937_64 r1(5), r2(5);
  EXPECT_EQ(task.batch(8, r1).word_ids, task.batch(8, r2).word_ids);
}

namespace {
// A study small enough for a unit test: one block, a few dozen steps.
OutlierStudyOptions tinyStudy(int64_t steps, int64_t batch_size, int64_t eval_questions, int64_t model_size) {
  OutlierStudyOptions o;
  o.steps = steps;
  o.batch_size = batch_size;
  o.eval_questions = eval_questions;
  o.calibration_batches = 2;
  o.calibration_batch_size = 8;
  o.model_size = model_size;
  o.num_heads = 2;
  o.ffn_size = 2 * model_size;
  o.layers = 1;
  return o;
}
}  // namespace

TEST(Study, TinyRunProducesEveryVariantAndValidJson) {
  const OutlierStudyOptions o = tinyStudy(30, 16, 64, 16);
  int reports = 0;
  OutlierStudyResult r = run_outlier_study(o, [&](const StudyProgress&) { ++reports; });
  ASSERT_EQ(r.variants.size(), 4u);
  EXPECT_GT(reports, 4);
  for (const auto& v : r.variants) {
    EXPECT_GE(v.fp_metric, 0.0);
    EXPECT_LE(v.fp_metric, 100.0);
    EXPECT_GT(v.fp_token_accuracy, 20.0) << v.variant;  // learns something in 30 steps
    EXPECT_TRUE(std::isfinite(v.avg_kurtosis));
    EXPECT_GT(v.max_inf_norm, 0.0);
    EXPECT_EQ(v.tensors.size(), 3u);
    EXPECT_GE(v.int8_metric, 0.0);
  }
  const std::string path = std::string(VQA_BINARY_DIR) + "/test_hopfield_study.json";
  write_study_json(r, path);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  for (const char* key : {"\"task\"", "\"variants\"", "\"softmax1\"", "\"gated\"", "\"fp_metric\"", "\"w8a8_metric\"",
                          "\"avg_kurtosis\"", "\"max_inf_norm\""})
    EXPECT_NE(text.str().find(key), std::string::npos) << key;
  EXPECT_NE(study_markdown(r).find("| softmax1 |"), std::string::npos);
}

TEST(Study, MaskedWordObjectivePredictsWordsFromContext) {
  OutlierStudyOptions o = tinyStudy(150, 32, 128, 32);
  o.objective = StudyObjective::MaskedWords;
  o.variants = {AttentionKind::Softmax1};
  const OutlierStudyResult r = run_outlier_study(o);
  ASSERT_EQ(r.variants.size(), 1u);
  EXPECT_NE(r.task.find("masked-word"), std::string::npos);
  // 60+ words to choose from: chance is under 2%; grammar and context make far more predictable.
  EXPECT_GT(r.variants[0].fp_metric, 20.0);
  EXPECT_EQ(r.variants[0].fp_metric, r.variants[0].fp_token_accuracy);
  EXPECT_TRUE(std::isfinite(r.variants[0].avg_kurtosis));
}
