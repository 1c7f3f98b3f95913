// `vqa study-outliers` refuses out-of-range options before any training: one error line naming the option,
// exit status 1, no crash and no --json file. A tiny `--task backcopy` run writes every JSON key.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace {

struct BadOption {
  std::string args;
  std::string option;  // the error line must name it
};

TEST(StudyCli, OutOfRangeOptionsGiveOneLineErrors) {
  const std::string json = vqa::testing::scratchDir() + "/study.json";
  const BadOption cases[] = {
      {"--layers 0", "--layers"},         {"--heads 0", "--heads"},
      {"--heads 3", "--heads"},           {"--model-size 0", "--model-size"},
      {"--lr nan", "--lr"},               {"--lr -1", "--lr"},
      {"--steps 0", "--steps"},           {"--batch-size -5", "--batch-size"},
      {"--ffn-size 0", "--ffn-size"},     {"--percentile 101", "--percentile"},
      {"--gate-pi 1", "--gate-pi"},       {"--threads 100000", "--threads"},
      {"--weight-decay inf", "--weight-decay"}, {"--eval-questions 0", "--eval-questions"},
      {"--variants nosuch", "nosuch"},
      {"--task nosuch", "--task"},        {"--task backcopy --seeds 0", "--seeds"},
      {"--task backcopy --seeds -2", "--seeds"}, {"--seeds 2", "--seeds"},
      {"--task backcopy --eval-sequences 0", "--eval-sequences"},
      {"--task backcopy --eval-questions 8", "--eval-questions"},
      {"--task backcopy --model-size 30 --heads 4", "--heads"},
  };
  for (const auto& c : cases) {
    const auto r = vqa::testing::runVqa("study-outliers --json " + json + " " + c.args);
    EXPECT_EQ(r.rc, 1) << c.args << ": " << r.err;
    const std::string line = vqa::testing::errorLine(r);
    EXPECT_NE(line.find(c.option), std::string::npos) << c.args << ": " << line;
    EXPECT_LT(line.size(), 300u) << c.args;
    EXPECT_FALSE(std::filesystem::exists(json)) << c.args;
  }
}

TEST(StudyCli, UnwritableJsonIsRefusedBeforeTraining) {
  const std::string dir = vqa::testing::scratchDir();
  for (const std::string& path : {std::string("''"), dir}) {
    const auto r = vqa::testing::runVqa("study-outliers --steps 2 --eval-questions 8 --calibration-batches 1 --variants softmax1 --json " + path);
    EXPECT_EQ(r.rc, 1) << path << ": " << r.err;
    EXPECT_NE(vqa::testing::errorLine(r).find("--json"), std::string::npos) << path << ": " << r.err;
  }
}

TEST(StudyCli, BackcopyTinyRunWritesEveryKey) {
  const std::string json = vqa::testing::scratchDir() + "/backcopy.json";
  const auto r = vqa::testing::runVqa(
      "study-outliers --task backcopy --steps 30 --seeds 2 --seed 5 --variants softmax gated --batch-size 8 "
      "--eval-sequences 32 --calibration-batches 1 --json " + json);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("| gated | "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("[softmax seed 6] train step 30/30"), std::string::npos) << r.err;
  const nlohmann::json j = nlohmann::json::parse(vqa::testing::readText(json));
  EXPECT_NE(j.at("task").get<std::string>().find("next-token"), std::string::npos);
  EXPECT_EQ(j.at("settings").at("steps").get<int64_t>(), 30);
  EXPECT_EQ(j.at("settings").at("layers").get<int64_t>(), 3);  // the backcopy defaults, not the tagger's
  EXPECT_EQ(j.at("settings").at("num_heads").get<int64_t>(), 2);
  ASSERT_EQ(j.at("variants").size(), 2u);
  const char* keys[] = {"fp_metric",     "w8a8_metric",         "avg_kurtosis",       "max_inf_norm",
                        "bos_attention", "avg_kurtosis_no_bos", "max_inf_norm_no_bos"};
  for (const char* variant : {"softmax", "gated"}) {
    const auto& v = j.at("variants").at(variant);
    for (const char* key : keys) {
      ASSERT_TRUE(v.at(key).is_number()) << variant << "." << key;
      EXPECT_TRUE(std::isfinite(v.at(key).get<double>())) << variant << "." << key;
    }
    ASSERT_EQ(v.at("per_seed").size(), 2u) << variant;
    double fp_sum = 0;
    for (size_t i = 0; i < 2; ++i) {
      const auto& s = v.at("per_seed").at(i);
      EXPECT_EQ(s.at("seed").get<uint64_t>(), 5u + i);
      for (const char* key : keys) ASSERT_TRUE(s.at(key).is_number()) << variant << " seed " << i << " " << key;
      fp_sum += s.at("fp_metric").get<double>();
      EXPECT_GT(s.at("fp_metric").get<double>(), 0.0);
      EXPECT_GE(s.at("bos_attention").get<double>(), 0.0);
      EXPECT_LE(s.at("bos_attention").get<double>(), 1.0);
      EXPECT_EQ(s.at("bos_attention_per_layer").size(), 3u);
      EXPECT_EQ(s.at("tensors").size(), 12u);  // attention, attention residual, FFN, block output x 3 blocks
      EXPECT_TRUE(s.at("tensors").contains("block2.attn_residual"));
      EXPECT_GE(s.at("max_inf_norm").get<double>(), s.at("tensors").at("block0.ffn").at("avg_inf_norm").get<double>());
    }
    EXPECT_NEAR(v.at("fp_metric").get<double>(), fp_sum / 2, 1e-9) << variant;
  }
}

}  // namespace
