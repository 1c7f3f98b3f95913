// Tests for datasets/gqa: real GQA questions and scene graphs load, every real program parses, bad input
// errors, and the official metrics on hand-computed cases.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "datasets/gqa/gqa_io.h"
#include "datasets/gqa/gqa_metrics.h"
#include "test_support.h"

using namespace vqa;

TEST(GqaIo, RealQuestionsAndSceneGraphsLoad) {
  VQA_REQUIRE_SHARED(shared);
  const auto val = readGqaQuestions(shared + "/data/gqa-real/questions/gqa_ood_val_bal_tail_-0.7_questions.json");
  const auto train = readGqaQuestions(shared + "/data/gqa-real/questions/train_questions_2_matching_sceneGraphs.json");
  ASSERT_EQ(val.size() + train.size(), 1360u);
  for (const auto* set : {&val, &train})
    for (const auto& q : *set) EXPECT_TRUE(q.has_program && q.program_error.empty()) << q.id << ": " << q.program_error;
  const auto graphs = readGqaSceneGraphs(shared + "/data/gqa-real/sceneGraphs/graphvqa_debug_sceneGraphs_4images.json");
  ASSERT_EQ(graphs.size(), 4u);
  const SceneGraph& g = graphs.at("2375429");
  const int pipe = g.findObject("722335"), wall = g.findObject("722332");
  ASSERT_GE(pipe, 0);
  ASSERT_GE(wall, 0);
  EXPECT_EQ(g.object(pipe).name, "pipe");
  EXPECT_TRUE(g.hasRelation(pipe, wall, "on"));
  EXPECT_EQ(graphs.at("2354786").image_attributes.at("location"), "outdoors");
}

TEST(GqaIo, BadInputNamesFileAndRecord) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string graphs = vqa::testing::writeFile(dir + "/g.json", R"({"7": {"width": 10, "height": 10,
    "objects": {"1": {"name": "cat", "x": 0, "y": 0, "w": 1, "h": 1, "attributes": [],
                      "relations": [{"name": "on", "object": "99"}]}}}})");
  try {
    readGqaSceneGraphs(graphs);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), graphs + ": image 7: object 1: relation 'on' names unknown object 99");
  }
  const std::string noX = vqa::testing::writeFile(dir + "/g2.json", R"({"7": {"objects": {"1": {"name": "cat"}}}})");
  EXPECT_THROW(readGqaSceneGraphs(noX), InputError);
  const std::string cyclic = vqa::testing::writeFile(dir + "/q.json", R"({"q1": {"imageId": "7", "question": "?",
    "answer": "yes", "semantic": [{"operation": "exist", "argument": "?", "dependencies": [1]},
                                  {"operation": "exist", "argument": "?", "dependencies": [0]}]}})");
  const auto qs = readGqaQuestions(cyclic);
  ASSERT_EQ(qs.size(), 1u);
  EXPECT_EQ(qs[0].program_error, "dependencies form a cycle");
  const std::string noImage = vqa::testing::writeFile(dir + "/q2.json", R"({"q9": {"question": "?"}})");
  try {
    readGqaQuestions(noImage);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), noImage + ": question q9: missing 'imageId'");
  }
  // Read record by record, a question id given twice is an error, not a silent overwrite.
  const std::string twice = vqa::testing::writeFile(dir + "/q3.json", R"({"q1": {"imageId": "7", "question": "a?"},
    "q2": {"imageId": "7", "question": "b?"}, "q1": {"imageId": "8", "question": "c?"}})");
  try {
    readGqaQuestions(twice);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), twice + ": question q1: appears twice");
  }
}

static GqaQuestion question(const std::string& id, const std::string& answer, const std::string& structural,
                            const std::string& group, std::vector<std::string> entailed = {}) {
  GqaQuestion q;
  q.id = id;
  q.answer = answer;
  q.structural = structural;
  q.global_group = group;
  q.has_global_group = true;
  q.entailed = std::move(entailed);
  return q;
}

TEST(GqaMetrics, MatchOfficialDefinitionsOnAHandComputedCase) {
  std::vector<GqaQuestion> qs{question("a", "yes", "verify", "g", {"b", "c", "a"}), question("b", "no", "verify", "g"),
                              question("c", "red", "query", "h"), question("d", "blue", "query", "h")};
  qs[3].balanced = false;  // not scored, but usable as an entailed question
  const std::map<std::string, std::string> pred{{"a", "yes"}, {"b", "yes"}, {"c", "red"}, {"d", "blue"}};
  std::map<std::string, GqaChoices> choices{{"a", {{"yes", "no"}, {"yes"}}},
                                            {"b", {{"yes", "no"}, {"no"}}},
                                            {"c", {{"red", "blue"}, {"red"}}}};
  const GqaScores s = scoreGqa(qs, pred, &choices);
  EXPECT_EQ(s.total, 3);
  EXPECT_EQ(s.correct, 2);
  EXPECT_DOUBLE_EQ(s.accuracy, 2.0 / 3);
  EXPECT_DOUBLE_EQ(s.binary, 0.5);
  EXPECT_DOUBLE_EQ(s.open, 1.0);
  // a is correct; its entailed b (wrong) and c (right), itself excluded -> 0.5. c has none.
  EXPECT_DOUBLE_EQ(s.consistency, 0.5);
  EXPECT_EQ(s.consistency_questions, 1);
  EXPECT_DOUBLE_EQ(*s.validity, 1.0);
  EXPECT_DOUBLE_EQ(*s.plausibility, 2.0 / 3);
  // group g: gold {yes:1, no:1}, predicted {yes:2}: (2-1)^2/1 + (0-1)^2/1 = 2, weight 2; group h: 0, weight 1.
  EXPECT_DOUBLE_EQ(s.distribution, (2.0 * 2 + 0.0 * 1) / 3 / 100);
}

// eval.py's belongs(): for a question whose types.detailed contains "Common", both the valid and the plausible
// group become {color, material, shape}.
TEST(GqaMetrics, CommonQuestionsUseTheAttributeGroupForValidityAndPlausibility) {
  std::vector<GqaQuestion> qs{question("a", "color", "compare", "g"), question("b", "shape", "compare", "g"),
                              question("c", "red", "query", "h"), question("d", "material", "compare", "g")};
  qs[0].detailed = qs[1].detailed = qs[3].detailed = "twoCommon";
  qs[2].detailed = "queryAttr";
  const std::map<std::string, std::string> pred{{"a", "material"}, {"b", "red"}, {"c", "red"}, {"d", "shape"}};
  std::map<std::string, GqaChoices> choices{{"a", {{"color", "material"}, {"color"}}},
                                            {"b", {{"shape"}, {"shape"}}},
                                            {"c", {{"red", "blue"}, {"red"}}},
                                            {"d", {{}, {}}}};
  const GqaScores s = scoreGqa(qs, pred, &choices);
  // valid:     a material in group 1, b red 0, c red in {red, blue} 1, d shape in group 1 -> 3/4
  // plausible: a material in group 1 (not in {color}), b 0, c 1, d shape in group 1 (list empty) -> 3/4
  EXPECT_DOUBLE_EQ(*s.validity, 0.75);
  EXPECT_DOUBLE_EQ(*s.plausibility, 0.75);
}

// eval.py prints consistency as avg([]) = 0 when no correct question has an entailed question; the JSON says
// how many questions the figure rests on.
TEST(GqaMetrics, ConsistencyWithNoQualifyingQuestionIsZeroAsEvalPyPrints) {
  std::vector<GqaQuestion> qs{question("a", "yes", "verify", "g"), question("b", "no", "verify", "g", {"a"}),
                              question("c", "red", "query", "h", {"c", "zz"})};
  // a: correct, no entailed; b: wrong; c: correct, entailed only itself and an unknown id.
  const std::map<std::string, std::string> pred{{"a", "yes"}, {"b", "yes"}, {"c", "red"}};
  const GqaScores s = scoreGqa(qs, pred);
  EXPECT_EQ(s.consistency, 0.0);
  EXPECT_EQ(s.consistency_questions, 0);
  EXPECT_EQ(s.entailed_missing, 1);
  const nlohmann::json j = s.toJson();
  ASSERT_TRUE(j["consistency"].is_number());
  EXPECT_EQ(j["consistency"].get<double>(), 0.0);
  EXPECT_EQ(j["consistency_questions"], 0);
  EXPECT_EQ(j["entailed_missing"], 1);
}

TEST(GqaIo, HugeNumbersAndValuesAreLocatedErrors) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string width = vqa::testing::writeFile(dir + "/w.json", R"({"7": {"width": 4294967297, "objects": {}}})");
  try {
    readGqaSceneGraphs(width);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), width + ": image 7: 'width' is 4294967297, out of range (0 to 2147483647)");
  }
  const std::string dependency = vqa::testing::writeFile(dir + "/q.json", R"J({"q1": {"imageId": "7", "semantic": [
    {"operation": "select", "argument": "cat (1)", "dependencies": []},
    {"operation": "exist", "argument": "?", "dependencies": [9223372036854775808]}]}})J");
  const auto qs = readGqaQuestions(dependency);
  ASSERT_EQ(qs.size(), 1u);
  EXPECT_EQ(qs[0].program_error, "step 1: 'dependencies' is 9223372036854775808, out of range (0 to 2147483647)");
  // A 10 MB question id and object name come back cut short.
  const std::string huge(10'000'000, 'q');
  const std::string longId = vqa::testing::writeFile(dir + "/long.json", "{\"" + huge + "\": {\"question\": \"?\"}}");
  try {
    readGqaQuestions(longId);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), longId + ": question " + std::string(60, 'q') + "...: missing 'imageId'");
  }
}
