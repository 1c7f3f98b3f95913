// `vqa study-outliers` refuses out-of-range options before any training: one error line naming the option,
// exit status 1, no crash and no --json file.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

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

}  // namespace
