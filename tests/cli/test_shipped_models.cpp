// The trained models shipped in models/ (see models/README.md): they load in this build, and on the real CLEVR
// images in the shared data (never used to train or select them) they read the scenes and answer the questions
// as well as models/README.md says. A change to a model file format that leaves them unreadable fails here.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace {

using vqa::testing::RunResult;
using vqa::testing::runVqa;

// Real questions each shipped engine answers right from the pixels, as measured for models/README.md.
struct ShippedEngine {
  const char* file;
  int real_correct;
};
constexpr ShippedEngine kShippedEngines[] = {{"clevr-engine.bin", 46}, {"clevr-engine-w8a8.bin", 46}};

std::string shippedModel(const std::string& name) {
  return (std::filesystem::path(VQA_TEST_SOURCE_DIR).parent_path() / "models" / name).string();
}

// The two real CLEVR splits of the shared data: images with scene records, and questions with programs.
struct RealSplit {
  std::string split, scenes, questions;
};

std::vector<RealSplit> realSplits(const std::string& shared) {
  const std::string d = shared + "/data/clevr-real/";
  return {{"val", d + "scenes/CLEVR_val_scenes_first500.json", d + "questions/CLEVR_val_questions_img0_7q.json"},
          {"train", d + "scenes/CLEVR_train_scenes_first1000.json", d + "questions/CLEVR_train_questions_q0-39.json"}};
}

}  // namespace

TEST(ShippedModels, ParsersReadTheRealClevrImages) {
  VQA_REQUIRE_SHARED(shared);
  const std::string dir = vqa::testing::scratchDir();
  // The scene parser's own file and the fine-tuned one inside the engine (eval-scenes reads an engine's parser).
  for (const char* file : {"clevr-parser.bin", "clevr-engine.bin"}) {
    int matched = 0, annotated = 0, predicted = 0;
    std::map<std::string, double> right;  // per attribute, objects read right over both splits
    for (const RealSplit& s : realSplits(shared)) {
      const std::string json = dir + "/" + s.split + ".json";
      const RunResult r = runVqa("eval-scenes --model " + shippedModel(file) + " --data " + shared +
                                 "/data/clevr-real --split " + s.split + " --scenes " + s.scenes + " --questions " +
                                 s.questions + " --allow-missing --threads 2 --json " + json);
      ASSERT_EQ(r.rc, 0) << file << ": " << r.err;
      const auto j = nlohmann::json::parse(vqa::testing::readText(json));
      const int m = j["detection"]["matched"].get<int>();
      matched += m;
      annotated += j["detection"]["annotated"].get<int>();
      predicted += j["detection"]["predicted"].get<int>();
      for (const auto& [attribute, accuracy] : j["attributes"].items()) right[attribute] += accuracy.get<double>() * m;
    }
    // The 25 real images with scene records hold 160 objects.
    EXPECT_EQ(annotated, 160) << file;
    EXPECT_GE(matched, 159) << file;
    EXPECT_LE(predicted - matched, 1) << file;
    // The scene parser's goal on real pixels: every attribute right on at least 95% of the matched objects.
    EXPECT_EQ(right.size(), 4u) << file;
    for (const auto& [attribute, n] : right) EXPECT_GE(n / matched, 0.95) << file << ": " << attribute;
  }
}

TEST(ShippedModels, EnginesAnswerTheRealClevrQuestionsFromPixels) {
  VQA_REQUIRE_SHARED(shared);
  const std::string dir = vqa::testing::scratchDir();
  for (const ShippedEngine& engine : kShippedEngines) {
    int correct = 0, total = 0;
    for (const RealSplit& s : realSplits(shared)) {
      const std::string json = dir + "/" + s.split + ".json";
      const RunResult r = runVqa("eval --model " + shippedModel(engine.file) + " --data " + shared +
                                 "/data/clevr-real --split " + s.split + " --scenes " + s.scenes + " --questions " +
                                 s.questions + " --threads 2 --json " + json);
      ASSERT_EQ(r.rc, 0) << engine.file << ": " << r.err;
      const auto j = nlohmann::json::parse(vqa::testing::readText(json));
      correct += j["correct"].get<int>();
      total += j["total"].get<int>();
    }
    EXPECT_EQ(total, 47) << engine.file;
    // models/README.md lists each question's predicted program and answer; one question fewer is allowed, so
    // that a different BLAS flipping one borderline answer does not fail the suite.
    EXPECT_GE(correct, engine.real_correct - 1) << engine.file << ": " << correct << "/" << total;
  }
}

TEST(ShippedModels, AskAnswersAQuestionAboutARealImage) {
  VQA_REQUIRE_SHARED(shared);
  const std::string image = shared + "/data/clevr-real/images/val/CLEVR_val_000000.png";
  // The sixth real question on this image; its recorded answer is "purple".
  const RunResult r = runVqa("ask --model " + shippedModel("clevr-engine.bin") + " --image " + image +
                             " --json - 'What is the color of the large shiny sphere?'");
  ASSERT_EQ(r.rc, 0) << r.err;
  // With --json -, stdout holds the JSON alone and the text goes to stderr.
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_NE(r.err.find("answer: purple"), std::string::npos) << r.err;
  EXPECT_EQ(j["answer"], "purple") << r.out;
  EXPECT_GT(j["probability"].get<double>(), 0.5) << r.out;
}
