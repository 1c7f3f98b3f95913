// The outlier study: its question generator and a tiny end-to-end study run.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "study/outlier_study.h"
#include "test_support.h"
#include "study/question_task.h"

using namespace vqa::hopfield;
using namespace vqa::study;

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
  const std::string path = vqa::testing::scratchDir() + "/study.json";
  write_study_json(r, path);
  const nlohmann::json j = nlohmann::json::parse(vqa::testing::readText(path));
  EXPECT_EQ(j.at("task").get<std::string>(), r.task);
  EXPECT_EQ(j.at("settings").at("steps").get<int64_t>(), 30);
  EXPECT_EQ(j.at("settings").at("seed").get<uint64_t>(), o.seed);
  ASSERT_EQ(j.at("variants").size(), 4u);
  for (const auto& v : r.variants) {
    const auto& jv = j.at("variants").at(v.variant);
    EXPECT_DOUBLE_EQ(jv.at("fp_metric").get<double>(), v.fp_metric) << v.variant;
    EXPECT_DOUBLE_EQ(jv.at("w8a8_metric").get<double>(), v.w8a8_metric) << v.variant;
    EXPECT_DOUBLE_EQ(jv.at("avg_kurtosis").get<double>(), v.avg_kurtosis) << v.variant;
    EXPECT_DOUBLE_EQ(jv.at("max_inf_norm").get<double>(), v.max_inf_norm) << v.variant;
    EXPECT_DOUBLE_EQ(jv.at("int8_metric").get<double>(), v.int8_metric) << v.variant;
    ASSERT_EQ(jv.at("tensors").size(), v.tensors.size());
    for (const auto& t : v.tensors)
      EXPECT_DOUBLE_EQ(jv.at("tensors").at(t.name).at("avg_kurtosis").get<double>(), t.avg_kurtosis) << t.name;
  }
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
