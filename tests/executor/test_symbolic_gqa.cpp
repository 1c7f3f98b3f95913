// Tests for the GQA symbolic executor: the real questions whose scene graphs exist reach their gold answers,
// and every operation behaves as GQA defines it on a small hand-made scene graph.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "datasets/gqa/gqa_io.h"
#include "executor/symbolic_executor.h"
#include "test_support.h"

using namespace vqa;

TEST(GqaExecutor, RealQuestionsWithSceneGraphsGiveGoldAnswers) {
  VQA_REQUIRE_SHARED(shared);
  const auto questions = readGqaQuestions(shared + "/data/gqa-real/questions/train_questions_2_matching_sceneGraphs.json");
  const auto graphs = readGqaSceneGraphs(shared + "/data/gqa-real/sceneGraphs/graphvqa_debug_sceneGraphs_4images.json");
  ASSERT_EQ(questions.size(), 2u);
  GqaLexicon lexicon;
  for (const auto& q : questions) lexicon.addFromProgram(q.program);
  for (const auto& q : questions) {
    const auto r = GqaExecutor(&lexicon).run(q.program, graphs.at(q.image_id));
    ASSERT_TRUE(r.ok) << q.id << ": " << r.error;
    EXPECT_EQ(r.answer, q.answer) << q.question;
  }
}

class GqaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    scene_ = gqaSceneFromJson("1", nlohmann::json::parse(R"J({"width": 300, "height": 300, "location": "indoors",
      "objects": {
        "10": {"name": "man", "x": 10, "y": 100, "w": 50, "h": 150, "attributes": ["old", "standing"],
               "relations": [{"name": "wearing", "object": "11"}, {"name": "to the left of", "object": "12"}]},
        "11": {"name": "shirt", "x": 20, "y": 120, "w": 30, "h": 40, "attributes": ["white", "cotton"], "relations": []},
        "12": {"name": "boy", "x": 240, "y": 100, "w": 40, "h": 100, "attributes": ["young", "white"],
               "relations": [{"name": "to the right of", "object": "10"}, {"name": "holding", "object": "13"}]},
        "13": {"name": "ball", "x": 250, "y": 10, "w": 10, "h": 10, "attributes": ["white", "round"], "relations": []}}})J"));
    lexicon_.add("color", "white");
    lexicon_.add("material", "cotton");
  }
  std::string answer(const char* semantic) {
    const auto r = GqaExecutor(&lexicon_).run(parseGqaProgram(nlohmann::json::parse(semantic)), scene_);
    return r.ok ? r.answer : "error: " + r.error;
  }
  SceneGraph scene_;
  GqaLexicon lexicon_;
};

#define SEL(arg) "{\"operation\": \"select\", \"argument\": \"" arg "\", \"dependencies\": []}"
#define OP(op, arg, deps) "{\"operation\": \"" op "\", \"argument\": \"" arg "\", \"dependencies\": " deps "}"

TEST_F(GqaOps, SelectRelateQuery) {
  EXPECT_EQ(answer("[" SEL("man (10)") "," OP("relate", "_,wearing,o (11)", "[0]") "," OP("query", "name", "[1]") "]"), "shirt");
  // 's': the new object is the subject (who wears the shirt?); grounding resolves "person" to the man.
  EXPECT_EQ(answer("[" SEL("shirt (11)") "," OP("relate", "person,wearing,s (10)", "[0]") "," OP("query", "name", "[1]") "]"), "man");
  EXPECT_EQ(answer("[" SEL("shirt (11)") "," OP("query", "color", "[0]") "]"), "white");
  EXPECT_EQ(answer("[" SEL("shirt (11)") "," OP("query", "material", "[0]") "]"), "cotton");
  EXPECT_EQ(answer("[" SEL("boy (12)") "," OP("query", "hposition", "[0]") "]"), "right");
  EXPECT_EQ(answer("[" SEL("ball (13)") "," OP("query", "vposition", "[0]") "]"), "top");
  EXPECT_EQ(answer("[" SEL("scene") "," OP("query", "location", "[0]") "]"), "indoors");
}

TEST_F(GqaOps, FilterVerifyExistAndOr) {
  EXPECT_EQ(answer("[" SEL("shirt (11)") "," OP("verify color", "white", "[0]") "]"), "yes");
  EXPECT_EQ(answer("[" SEL("shirt (11)") "," OP("verify color", "not(white)", "[0]") "]"), "no");
  EXPECT_EQ(answer("[" SEL("cat (-)") "," OP("exist", "?", "[0]") "]"), "no");
  EXPECT_EQ(answer("[" SEL("ball (13)") "," OP("filter color", "not(white)", "[0]") "," OP("exist", "?", "[1]") "]"), "no");
  EXPECT_EQ(answer("[" SEL("ball (13)") "," OP("filter", "round", "[0]") "," OP("exist", "?", "[1]") "]"), "yes");
  EXPECT_EQ(answer("[" SEL("ball (13)") "," OP("exist", "?", "[0]") "," SEL("cat (-)") "," OP("exist", "?", "[2]") ","
                   OP("and", "", "[1, 3]") "]"), "no");
  EXPECT_EQ(answer("[" SEL("ball (13)") "," OP("exist", "?", "[0]") "," SEL("cat (-)") "," OP("exist", "?", "[2]") ","
                   OP("or", "", "[1, 3]") "]"), "yes");
  EXPECT_EQ(answer("[" SEL("man (10)") "," OP("verify rel", "shirt,wearing,o (11)", "[0]") "]"), "yes");
  EXPECT_EQ(answer("[" SEL("man (10)") "," OP("verify rel", "ball,holding,o (-)", "[0]") "]"), "no");
}

TEST_F(GqaOps, ChooseCompareSameDifferentCommon) {
  EXPECT_EQ(answer("[" SEL("shirt (11)") "," OP("choose color", "black|white", "[0]") "]"), "white");
  EXPECT_EQ(answer("[" SEL("man (10)") "," OP("choose rel", "boy,to the right of|to the left of,o (12)", "[0]") "]"),
            "to the left of");
  EXPECT_EQ(answer("[" SEL("man (10)") "," SEL("boy (12)") "," OP("choose older", "", "[0, 1]") "]"), "man");
  EXPECT_EQ(answer("[" SEL("man (10)") "," SEL("boy (12)") "," OP("choose younger", "", "[0, 1]") "]"), "boy");
  EXPECT_EQ(answer("[" SEL("shirt (11)") "," SEL("ball (13)") "," OP("same color", "", "[0, 1]") "]"), "yes");
  EXPECT_EQ(answer("[" SEL("shirt (11)") "," SEL("ball (13)") "," OP("different color", "", "[0, 1]") "]"), "no");
  EXPECT_EQ(answer("[" SEL("white things (11,12,13)") "," OP("same", "color", "[0]") "]"), "yes");
  EXPECT_EQ(answer("[" SEL("white things (11,12,13)") "," OP("different", "color", "[0]") "]"), "no");
  EXPECT_EQ(answer("[" SEL("shirt (11)") "," SEL("ball (13)") "," OP("common", "", "[0, 1]") "]"), "color");
  EXPECT_EQ(answer("[" SEL("ball (13)") "," OP("choose color", "black|red", "[0]") "]"),
            "error: step 1 (choose color): the object has none of 'black|red'");
}
