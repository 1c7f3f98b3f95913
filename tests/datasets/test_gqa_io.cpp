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
  ASSERT_TRUE(s.consistency.has_value());
  EXPECT_DOUBLE_EQ(*s.consistency, 0.5);
  EXPECT_DOUBLE_EQ(*s.validity, 1.0);
  EXPECT_DOUBLE_EQ(*s.plausibility, 2.0 / 3);
  // group g: gold {yes:1, no:1}, predicted {yes:2}: (2-1)^2/1 + (0-1)^2/1 = 2, weight 2; group h: 0, weight 1.
  EXPECT_DOUBLE_EQ(s.distribution, (2.0 * 2 + 0.0 * 1) / 3 / 100);
}
