// End-to-end tests of the `vqa` command: oracle evaluation on real CLEVR and GQA data, check-programs, and
// bad input (one line on stderr naming the file, the record and the problem; non-zero exit; no output file).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace {

struct RunResult {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

RunResult runVqa(const std::string& args) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string cmd = std::string(VQA_BINARY_DIR) + "/vqa " + args + " >" + dir + "/out.txt 2>" + dir + "/err.txt";
  RunResult r;
  const int status = std::system(cmd.c_str());
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir + "/out.txt");
  r.err = slurp(dir + "/err.txt");
  return r;
}

// The one line the command printed on stderr (progress lines aside).
std::string errorLine(const RunResult& r) {
  std::istringstream lines(r.err);
  std::string line, found;
  int count = 0;
  while (std::getline(lines, line))
    if (line.rfind("vqa: error: ", 0) == 0) {
      found = line.substr(12);
      ++count;
    }
  return count == 1 ? found : "expected exactly one error line, got: " + r.err;
}

std::string scratchFile(const std::string& name, const std::string& text) {
  const std::string dir = std::filesystem::temp_directory_path() / "vqa-cli-inputs";
  std::filesystem::create_directories(dir);
  return vqa::testing::writeFile(dir + "/" + name, text);
}

const char* kScene = R"J({"scenes": [{"split": "val", "image_index": 0, "image_filename": "CLEVR_val_000000.png",
  "objects": [{"color": "red", "size": "large", "shape": "cube", "material": "metal", "3d_coords": [0, 0, 0.7],
               "pixel_coords": [1, 2, 9.5], "rotation": 0}], "relationships": {"left": [[]], "right": [[]], "front": [[]], "behind": [[]]}}]})J";

std::string questionWith(const std::string& program, int image = 0) {
  return R"J({"info": {"split": "val"}, "questions": [{"image_index": )J" + std::to_string(image) +
         R"J(, "image_filename": "CLEVR_val_000000.png", "question": "?", "answer": "1", "question_index": 0, "program": )J" +
         program + "}]}";
}

}  // namespace

TEST(Cli, OracleEvalAnswersAllRealClevrQuestions) {
  VQA_REQUIRE_SHARED(shared);
  const std::string d = shared + "/data/clevr-real/";
  const std::string json = vqa::testing::scratchDir() + "/eval.json";
  const RunResult r = runVqa("eval --scenes " + d + "scenes/CLEVR_train_scenes_first1000.json " + d +
                          "scenes/CLEVR_val_scenes_first500.json --questions " + d +
                          "questions/CLEVR_train_questions_q0-39.json " + d +
                          "questions/CLEVR_val_questions_img0_7q.json --scene oracle --program oracle --json " + json);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(j["total"], 47);
  EXPECT_EQ(j["correct"], 47);
  EXPECT_EQ(j["accuracy"], 1.0);
  for (const char* t : {"exist", "count", "compare_number", "query_attribute", "compare_attribute"})
    EXPECT_TRUE(j["per_type"].contains(t)) << t;
  EXPECT_FALSE(j["per_family"].empty());
  EXPECT_TRUE(j["errors"].empty());
}

TEST(Cli, GqaProgramsParseAndExecute) {
  VQA_REQUIRE_SHARED(shared);
  const std::string d = shared + "/data/gqa-real/";
  const std::string json = vqa::testing::scratchDir() + "/check.json";
  const RunResult check = runVqa("check-programs --dataset gqa --questions " + d +
                              "questions/gqa_ood_val_bal_tail_-0.7_questions.json " + d +
                              "questions/train_questions_2_matching_sceneGraphs.json --json " + json);
  ASSERT_EQ(check.rc, 0) << check.err;
  const auto j = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(j["total"], 1360);
  EXPECT_EQ(j["parsed"], 1360);
  EXPECT_EQ(j["failed"], 0);

  const std::string evalJson = vqa::testing::scratchDir() + "/eval.json";
  const RunResult eval = runVqa("eval --dataset gqa --questions " + d + "questions/train_questions_2_matching_sceneGraphs.json"
                             " --scene-graphs " + d + "sceneGraphs/graphvqa_debug_sceneGraphs_4images.json"
                             " --scene oracle --program oracle --json " + evalJson);
  ASSERT_EQ(eval.rc, 0) << eval.err;
  const auto e = nlohmann::json::parse(slurp(evalJson));
  EXPECT_EQ(e["total"], 2);
  EXPECT_EQ(e["correct"], 2);
  for (const char* metric : {"binary", "open", "consistency", "validity", "plausibility", "distribution"})
    EXPECT_TRUE(e.contains(metric)) << metric;
}

TEST(Cli, BadInputGivesOneLineErrorAndNoOutput) {
  const std::string scenes = scratchFile("scenes.json", kScene);
  const std::string json = vqa::testing::scratchDir() + "/never.json";
  auto eval = [&](const std::string& questions) {
    return runVqa("eval --scenes " + scenes + " --questions " + questions + " --scene oracle --program oracle --json " + json);
  };
  struct Case {
    std::string name, questions, expected;
  };
  const std::string scene = R"J({"function": "scene", "inputs": [], "value_inputs": []})J";
  std::vector<Case> cases{
      {"truncated.json", R"J({"questions": [{"image_index": 0, "progr)J", "invalid or truncated JSON"},
      {"empty.json", "", "file is empty"},
      {"unknown.json", questionWith("[" + scene + R"J(, {"function": "count_all", "inputs": [0], "value_inputs": []}])J"),
       "question 0: step 1: unknown function 'count_all'"},
      {"forward.json", questionWith("[" + scene + R"J(, {"function": "count", "inputs": [2], "value_inputs": []},
                                     {"function": "count", "inputs": [0], "value_inputs": []}])J"),
       "question 0: step 1: input 2 points forward (inputs must be earlier steps)"},
      {"range.json", questionWith("[" + scene + R"J(, {"function": "count", "inputs": [9], "value_inputs": []}])J"),
       "question 0: step 1: input 9 is out of range (program has 2 steps)"},
      {"noscene.json", questionWith("[" + scene + R"J(, {"function": "count", "inputs": [0], "value_inputs": []}])J", 5),
       "question 0: image 5 (CLEVR_val_000000.png) has no scene in " + scenes},
  };
  for (const auto& c : cases) {
    const std::string path = scratchFile(c.name, c.questions);
    const RunResult r = eval(path);
    EXPECT_EQ(r.rc, 1) << c.name;
    const std::string line = errorLine(r);
    EXPECT_EQ(line.rfind(path + ": ", 0), 0u) << c.name << ": " << line;
    EXPECT_NE(line.find(c.expected), std::string::npos) << c.name << ": " << line;
    EXPECT_FALSE(std::filesystem::exists(json)) << c.name;
  }
  // An object missing a field in the scenes file.
  std::string broken = kScene;
  broken.replace(broken.find("\"shape\": \"cube\", "), 17, "");
  const std::string badScenes = scratchFile("noshape.json", broken);
  const RunResult r = runVqa("eval --scenes " + badScenes + " --questions " +
                          scratchFile("ok.json", questionWith("[" + scene + "]")) + " --scene oracle --program oracle");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), badScenes + ": scene 0 (CLEVR_val_000000.png): object 0: missing 'shape'");
}

TEST(Cli, GqaCycleIsAnError) {
  const std::string questions = scratchFile("gqa_cycle.json", R"J({"q1": {"imageId": "7", "question": "?", "answer": "yes",
    "semantic": [{"operation": "select", "argument": "cat (1)", "dependencies": [1]},
                 {"operation": "exist", "argument": "?", "dependencies": [0]}]}})J");
  const std::string graphs = scratchFile("gqa_graphs.json", R"J({"7": {"width": 9, "height": 9, "objects": {}}})J");
  const RunResult check = runVqa("check-programs --dataset gqa --questions " + questions);
  EXPECT_EQ(check.rc, 1);
  EXPECT_NE(check.out.find("question \"q1\": step 0: 'select' takes 0 dependencies, got 1"), std::string::npos) << check.out;
  const std::string cyclic = scratchFile("gqa_cycle2.json", R"J({"q2": {"imageId": "7", "question": "?", "answer": "yes",
    "semantic": [{"operation": "exist", "argument": "?", "dependencies": [1]},
                 {"operation": "exist", "argument": "?", "dependencies": [0]}]}})J");
  const RunResult eval = runVqa("eval --dataset gqa --questions " + cyclic + " --scene-graphs " + graphs +
                             " --scene oracle --program oracle");
  EXPECT_EQ(eval.rc, 1);
  EXPECT_EQ(errorLine(eval), cyclic + ": question q2: dependencies form a cycle");
}
