// End-to-end tests of the `vqa` command: oracle evaluation on real CLEVR and GQA data, check-programs, and
// bad input (one line on stderr naming the file, the record and the problem; non-zero exit; no output file).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace {

using vqa::testing::errorLine;
using vqa::testing::RunResult;
using vqa::testing::runVqa;

std::string slurp(const std::string& path) { return vqa::testing::readText(path); }

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
  // Counted from the two question files by the last function of each program.
  const nlohmann::json perTypeTotal{{"exist", 9}, {"count", 11}, {"compare_number", 2}, {"query_attribute", 21},
                                    {"compare_attribute", 4}};
  EXPECT_EQ(j["per_type_total"], perTypeTotal);
  for (const auto& [type, accuracy] : j["per_type"].items()) EXPECT_EQ(accuracy, 1.0) << type;
  EXPECT_EQ(j["per_type"].size(), 5u);
  // 47 questions from 41 question families (6 families hold two questions).
  EXPECT_EQ(j["per_family"].size(), 41u);
  for (const auto& [family, accuracy] : j["per_family"].items()) EXPECT_EQ(accuracy, 1.0) << family;
  EXPECT_EQ(j["per_family"]["25"], 1.0);
  EXPECT_EQ(j["errors"], nlohmann::json::array());
  EXPECT_NE(r.out.find("CLEVR eval: 47/47 correct (accuracy 100.00%), 0 could not run"), std::string::npos) << r.out;
}

TEST(Cli, SoftExecutorAgreesWithTheSymbolicOneOnRealClevr) {
  VQA_REQUIRE_SHARED(shared);
  const std::string d = shared + "/data/clevr-real/";
  const std::string dir = vqa::testing::scratchDir();
  const std::string inputs = "eval --scenes " + d + "scenes/CLEVR_train_scenes_first1000.json " + d +
                             "scenes/CLEVR_val_scenes_first500.json --questions " + d +
                             "questions/CLEVR_train_questions_q0-39.json " + d +
                             "questions/CLEVR_val_questions_img0_7q.json --scene oracle --program oracle";
  const RunResult symbolic = runVqa(inputs + " --executor symbolic --json " + dir + "/symbolic.json");
  ASSERT_EQ(symbolic.rc, 0) << symbolic.err;
  const RunResult soft = runVqa(inputs + " --executor soft --batch-size 16 --threads 1 --json " + dir + "/soft.json");
  if (soft.rc != 0 && soft.err.find("this build has no soft executor") != std::string::npos)
    GTEST_SKIP() << "this build has no soft executor";
  ASSERT_EQ(soft.rc, 0) << soft.err;
  auto a = nlohmann::json::parse(slurp(dir + "/symbolic.json")), b = nlohmann::json::parse(slurp(dir + "/soft.json"));
  EXPECT_EQ(b["mode"]["executor"], "soft");
  EXPECT_EQ(b["mode"]["batch_size"], 16);
  for (auto* j : {&a, &b}) {
    j->erase("mode");
    j->erase("seconds");
  }
  EXPECT_EQ(a, b);
  EXPECT_NE(soft.out.find("CLEVR eval: 47/47 correct (accuracy 100.00%), 0 could not run"), std::string::npos);
  // GQA programs are not CLEVR programs.
  const RunResult gqa = runVqa("eval --dataset gqa --questions x.json --scene-graphs y.json --scene oracle "
                               "--program oracle --executor soft");
  EXPECT_EQ(gqa.rc, 1);
  EXPECT_EQ(errorLine(gqa), "--executor soft runs CLEVR programs only");
  const RunResult noBatch = runVqa(inputs + " --executor soft --batch-size 0");
  EXPECT_EQ(noBatch.rc, 1);
  EXPECT_NE(errorLine(noBatch).find("--batch-size"), std::string::npos) << noBatch.err;
}

TEST(Cli, GqaProgramsParseAndExecute) {
  VQA_REQUIRE_SHARED(shared);
  const std::string d = shared + "/data/gqa-real/";
  const std::string dir = vqa::testing::scratchDir();
  const std::string json = dir + "/check.json";
  const RunResult check = runVqa("check-programs --dataset gqa --questions " + d +
                              "questions/gqa_ood_val_bal_tail_-0.7_questions.json " + d +
                              "questions/train_questions_2_matching_sceneGraphs.json --json " + json);
  ASSERT_EQ(check.rc, 0) << check.err;
  const auto j = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(j["total"], 1360);
  EXPECT_EQ(j["parsed"], 1360);
  EXPECT_EQ(j["failed"], 0);
  EXPECT_EQ(j["failures"], nlohmann::json::array());

  // The two questions: 02930152 (verify, answer yes, 7 entailed questions that are not in the file) and
  // 07333408 (query, answer pipe, global group "").
  const std::string questions = d + "questions/train_questions_2_matching_sceneGraphs.json";
  const std::string evalJson = dir + "/eval.json", predictions = dir + "/predictions.json";
  const RunResult eval = runVqa("eval --dataset gqa --questions " + questions + " --scene-graphs " + d +
                                "sceneGraphs/graphvqa_debug_sceneGraphs_4images.json --scene oracle --program oracle"
                                " --predictions " + predictions + " --json " + evalJson);
  ASSERT_EQ(eval.rc, 0) << eval.err;
  const auto e = nlohmann::json::parse(slurp(evalJson));
  EXPECT_EQ(e["total"], 2);
  EXPECT_EQ(e["correct"], 2);
  EXPECT_EQ(e["accuracy"], 1.0);
  EXPECT_EQ(e["binary"], 1.0);
  EXPECT_EQ(e["open"], 1.0);
  EXPECT_EQ(e["binary_total"], 1);
  EXPECT_EQ(e["open_total"], 1);
  // No entailed question has a prediction: eval.py prints 0, resting on 0 questions.
  EXPECT_EQ(e["consistency"], 0.0);
  EXPECT_EQ(e["consistency_questions"], 0);
  EXPECT_EQ(e["entailed_missing"], 7);
  EXPECT_TRUE(e["validity"].is_null());
  EXPECT_TRUE(e["plausibility"].is_null());
  EXPECT_EQ(e["distribution"], 0.0);
  EXPECT_EQ(e["per_type"], (nlohmann::json{{"query", 1.0}, {"verify", 1.0}}));
  EXPECT_EQ(e["errors"], nlohmann::json::array());
  EXPECT_EQ(e["skipped_no_scene_graph"], 0);
  EXPECT_EQ(nlohmann::json::parse(slurp(predictions)),
            nlohmann::json::parse(R"J([{"questionId": "02930152", "prediction": "yes"},
                                       {"questionId": "07333408", "prediction": "pipe"}])J"));

  const std::string scores = dir + "/scores.json";
  const RunResult score =
      runVqa("score-gqa --predictions " + predictions + " --questions " + questions + " --json " + scores);
  ASSERT_EQ(score.rc, 0) << score.err;
  const auto s = nlohmann::json::parse(slurp(scores));
  for (const char* key : {"total", "correct", "accuracy", "binary", "open", "consistency", "consistency_questions",
                          "entailed_missing", "distribution"})
    EXPECT_EQ(s[key], e[key]) << key;
  EXPECT_NE(score.out.find("| consistency | 0.00% (0 questions) |"), std::string::npos) << score.out;
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

namespace {

const char* kGqaQuestion = R"J({"q1": {"imageId": "7", "question": "?", "answer": "no", "isBalanced": true,
  "types": {"structural": "verify", "semantic": "obj", "detailed": "exist"},
  "semantic": [{"operation": "select", "argument": "cat (1)", "dependencies": []},
               {"operation": "exist", "argument": "?", "dependencies": [0]}]}})J";
const char* kGqaGraph = R"J({"7": {"width": 9, "height": 9, "objects": {}}})J";

int stderrLines(const RunResult& r) { return static_cast<int>(std::count(r.err.begin(), r.err.end(), '\n')); }

}  // namespace

TEST(Cli, OutputPathsAreCheckedBeforeAnyWorkAndNoOutputIsLeft) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string questions = scratchFile("gqa_ok_questions.json", kGqaQuestion);
  const std::string graphs = scratchFile("gqa_ok_graphs.json", kGqaGraph);
  const std::string predictions = dir + "/predictions.json";
  const std::string gqa = "eval --dataset gqa --questions " + questions + " --scene-graphs " + graphs +
                          " --scene oracle --program oracle --predictions " + predictions;
  const std::string blocker = vqa::testing::writeFile(dir + "/plain-file", "x");
  struct Case {
    std::string json, expected;
  };
  for (const Case& c : std::vector<Case>{{"\"\"", "--json: the path is empty"},
                                         {dir, "--json " + dir + ": is a folder, not a file"},
                                         {blocker + "/out.json", "--json " + blocker + "/out.json: " + blocker +
                                                                     " is not a folder"}}) {
    const RunResult r = runVqa(gqa + " --json " + c.json);
    EXPECT_EQ(r.rc, 1) << c.json;
    EXPECT_EQ(errorLine(r), c.expected);
    EXPECT_EQ(stderrLines(r), 1) << r.err;
    EXPECT_EQ(r.out, "") << "work started before the output paths were checked";
    EXPECT_FALSE(std::filesystem::exists(predictions)) << c.json;
  }
  const RunResult emptyPredictions = runVqa("eval --dataset gqa --questions " + questions + " --scene-graphs " +
                                            graphs + " --scene oracle --program oracle --predictions \"\"");
  EXPECT_EQ(errorLine(emptyPredictions), "--predictions: the path is empty");
  const RunResult same = runVqa(gqa + " --json " + predictions);
  EXPECT_EQ(errorLine(same), "--json and --predictions name the same file " + predictions);
  const RunResult clevr = runVqa("eval --scenes " + scratchFile("scenes.json", kScene) + " --questions " + questions +
                                 " --scene oracle --program oracle --predictions " + predictions);
  EXPECT_EQ(errorLine(clevr), "--predictions is written for GQA (--dataset gqa) and for --model");
  EXPECT_EQ(errorLine(runVqa("check-programs --dataset gqa --questions " + questions + " --json \"\"")),
            "--json: the path is empty");
  EXPECT_EQ(errorLine(runVqa("score-gqa --predictions " + questions + " --questions " + questions + " --json " + dir)),
            "--json " + dir + ": is a folder, not a file");

  // Both outputs appear together when all goes well.
  const std::string json = dir + "/sub/eval.json";
  const RunResult ok = runVqa(gqa + " --json " + json);
  ASSERT_EQ(ok.rc, 0) << ok.err;
  EXPECT_EQ(nlohmann::json::parse(slurp(json))["total"], 1);
  EXPECT_EQ(nlohmann::json::parse(slurp(predictions)).size(), 1u);
}

// The corpus idea at the command level: real sample files, each with one defect, through `vqa eval` and
// `vqa check-programs`: exit status 1, one line on stderr naming the file, and no --json file left.
TEST(Cli, MalformedRealFilesGiveOneLineAndNoOutput) {
  VQA_REQUIRE_SHARED(shared);
  const std::string d = shared + "/data/clevr-real/";
  const std::string dir = vqa::testing::scratchDir();
  nlohmann::json scenes = nlohmann::json::parse(slurp(d + "scenes/CLEVR_val_scenes_first500.json"));
  scenes["scenes"].erase(scenes["scenes"].begin() + 3, scenes["scenes"].end());
  const nlohmann::json questions = nlohmann::json::parse(slurp(d + "questions/CLEVR_val_questions_img0_7q.json"));
  const std::string goodScenes = vqa::testing::writeFile(dir + "/scenes.json", scenes.dump());
  const std::string goodQuestions = vqa::testing::writeFile(dir + "/questions.json", questions.dump());
  const std::string json = dir + "/never.json";
  ASSERT_EQ(runVqa("eval --scenes " + goodScenes + " --questions " + goodQuestions + " --scene oracle --program oracle")
                .rc,
            0);

  auto withText = [](nlohmann::json doc, const std::string& pointer, const std::string& raw) {
    doc[nlohmann::json::json_pointer(pointer)] = "@@defect@@";
    std::string text = doc.dump();
    text.replace(text.find("\"@@defect@@\""), 12, raw);
    return text;
  };
  auto edited = [](nlohmann::json doc, const std::function<void(nlohmann::json&)>& edit) {
    edit(doc);
    return doc.dump();
  };
  struct Case {
    std::string name, scenes, questions, expected;  // an empty text keeps the good file
  };
  const std::string deep = std::string(2000, '[') + std::string(2000, ']');
  const std::vector<Case> cases{
      {"truncated questions", "", questions.dump().substr(0, questions.dump().size() / 2), "invalid or truncated JSON"},
      {"image_index 2^32+1", "", withText(questions, "/questions/0/image_index", "4294967297"),
       "question 0: 'image_index' is 4294967297, out of range"},
      {"program input 2^32+1", "", withText(questions, "/questions/1/program/1/inputs/0", "4294967297"),
       "question 1: step 1: 'inputs' is 4294967297, out of range"},
      {"family index 2^63", "", withText(questions, "/questions/2/question_family_index", "9223372036854775808"),
       "question 2: 'question_family_index' is 9223372036854775808, out of range"},
      {"no question text", "", edited(questions, [](auto& q) { q["questions"][3].erase("question"); }),
       "question 3: missing 'question'"},
      {"no answer step", "", edited(questions, [](auto& q) { q["questions"][4]["program"].erase(q["questions"][4]["program"].size() - 1); }),
       "question 4 (question_index 6): step 12: the last step 'union' gives ObjectSet, not an answer"},
      {"deep nesting", "", withText(questions, "/info", deep), "nest deeper than 512 levels"},
      {"rotation 1e400", withText(scenes, "/scenes/1/objects/0/rotation", "1e400"), "", "number too large at line 1"},
      {"relationship index 2^32+1", withText(scenes, "/scenes/0/relationships/left/0/0", "4294967297"), "",
       "scene 0 (CLEVR_val_000000.png): relationships 'left'[0] holds 4294967297"},
      {"duplicate image_index", edited(scenes, [](auto& s) { s["scenes"][2]["image_index"] = 0; }), "",
       "scene 2 (CLEVR_val_000002.png): image_index 0 is already used by scene 0"},
      {"object as scene", edited(scenes, [](auto& s) { s["scenes"][1] = "scene"; }), "", "scene 1: record is not an object"},
  };
  for (const Case& c : cases) {
    const std::string sceneFile =
        c.scenes.empty() ? goodScenes : vqa::testing::writeFile(dir + "/bad_scenes.json", c.scenes);
    const std::string questionFile =
        c.questions.empty() ? goodQuestions : vqa::testing::writeFile(dir + "/bad_questions.json", c.questions);
    const std::string badFile = c.scenes.empty() ? questionFile : sceneFile;
    const RunResult r = runVqa("eval --scenes " + sceneFile + " --questions " + questionFile +
                               " --scene oracle --program oracle --json " + json);
    EXPECT_EQ(r.rc, 1) << c.name;
    EXPECT_EQ(stderrLines(r), 1) << c.name << ": " << r.err.substr(0, 400);
    const std::string line = errorLine(r);
    EXPECT_EQ(line.rfind(badFile + ": ", 0), 0u) << c.name << ": " << line.substr(0, 400);
    EXPECT_NE(line.find(c.expected), std::string::npos) << c.name << ": " << line.substr(0, 400);
    EXPECT_LE(line.size(), 300u) << c.name;
    EXPECT_FALSE(std::filesystem::exists(json)) << c.name;
    if (c.questions.empty()) continue;
    // check-programs refuses a file it cannot read with no report; a failing program is its report.
    const RunResult check = runVqa("check-programs --dataset clevr --questions " + questionFile + " --json " + json);
    EXPECT_EQ(check.rc, 1) << c.name;
    EXPECT_EQ(stderrLines(check), 1) << c.name << ": " << check.err.substr(0, 400);
    EXPECT_EQ(errorLine(check).rfind(questionFile + ": ", 0), 0u) << c.name << ": " << check.err.substr(0, 400);
    const bool programDefect = c.name == "program input 2^32+1" || c.name == "no answer step";
    EXPECT_EQ(std::filesystem::exists(json), programDefect) << c.name;
    if (programDefect) {
      EXPECT_EQ(nlohmann::json::parse(slurp(json))["failed"], 1) << c.name;
      std::filesystem::remove(json);
    }
  }
  // One scenes file given twice: every image would have two scenes.
  const RunResult twice = runVqa("eval --scenes " + goodScenes + " " + goodScenes + " --questions " + goodQuestions +
                                 " --scene oracle --program oracle --json " + json);
  EXPECT_EQ(errorLine(twice), goodScenes + ": scene 0: image_index 0 of split 'val' is already in " + goodScenes);
  EXPECT_FALSE(std::filesystem::exists(json));
  // A folder given as an input file.
  const RunResult folder =
      runVqa("eval --scenes " + dir + " --questions " + goodQuestions + " --scene oracle --program oracle --json " + json);
  EXPECT_EQ(errorLine(folder), dir + ": is a folder, not a file");
  EXPECT_FALSE(std::filesystem::exists(json));
}
