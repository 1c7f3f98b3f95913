// Tests for the CLEVR symbolic executor: CLEVR's semantics (unique needs exactly one object, same_* leaves
// the object out, relate reads the scene's relationships), gold answers on the real questions, and
// CLOSURE-style per-step `_output` values matched step by step.
#include <gtest/gtest.h>

#include "datasets/clevr/clevr_io.h"
#include "datasets/json_file.h"
#include "executor/symbolic_executor.h"
#include "test_support.h"

using namespace vqa;

static const std::string kData = std::string(VQA_TEST_SOURCE_DIR) + "/executor/data";

TEST(ClevrExecutor, RealQuestionsGiveTheirGoldAnswers) {
  VQA_REQUIRE_SHARED(shared);
  const std::string base = shared + "/data/clevr-real/";
  const auto trainScenes = readClevrScenes(base + "scenes/CLEVR_train_scenes_first1000.json");
  const auto valScenes = readClevrScenes(base + "scenes/CLEVR_val_scenes_first500.json");
  int total = 0, correct = 0;
  for (auto [questions, scenes] : {std::pair{"questions/CLEVR_train_questions_q0-39.json", &trainScenes},
                                   std::pair{"questions/CLEVR_val_questions_img0_7q.json", &valScenes}}) {
    for (const auto& q : readClevrQuestions(base + questions).questions) {
      const auto r = ClevrExecutor().run(q.program, scenes->scenes.at(q.image_index));
      ++total;
      correct += r.ok && r.answer == q.answer;
      EXPECT_TRUE(r.ok) << q.question << ": " << r.error;
      EXPECT_EQ(r.answer, q.answer) << q.question;
    }
  }
  EXPECT_EQ(total, 47);
  EXPECT_EQ(correct, 47);
}

TEST(ClevrExecutor, ClosureStyleOutputsMatchStepByStep) {
  const auto scenes = readClevrScenes(kData + "/closure_style_scenes.json");
  const auto questions = readClevrQuestions(kData + "/closure_style_questions.json");
  const nlohmann::json raw = readJsonFile(kData + "/closure_style_questions.json");
  ASSERT_EQ(questions.questions.size(), 10u);
  int steps = 0;
  for (size_t k = 0; k < questions.questions.size(); ++k) {
    const auto& q = questions.questions[k];
    ASSERT_TRUE(q.program_error.empty());
    validateProgram(q.program);
    const auto r = ClevrExecutor().run(q.program, scenes.scenes.at(q.image_index));
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.answer, q.answer) << q.question;
    const auto& program = raw["questions"][k]["program"];
    for (size_t i = 0; i < program.size(); ++i, ++steps)
      EXPECT_TRUE(r.outputs[i].matches(program[i]["_output"]))
          << q.question << " step " << i << ": got " << r.outputs[i].toJson() << ", expected " << program[i]["_output"];
  }
  EXPECT_EQ(steps, 78);
}

static Program program(const char* text) { return parseProgram(nlohmann::json::parse(text)); }

TEST(ClevrExecutor, UniqueNeedsExactlyOneObject) {
  const auto scenes = readClevrScenes(kData + "/closure_style_scenes.json");
  const auto r = ClevrExecutor().run(program(R"J([{"function":"scene","inputs":[]},
      {"function":"filter_color","inputs":[0],"value_inputs":["red"]},{"function":"unique","inputs":[1]},
      {"function":"query_shape","inputs":[2]}])J"), scenes.scenes[0]);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failed_step, 2);
  EXPECT_EQ(r.error, "step 2 (unique): unique needs exactly 1 object, got 2");
  const auto none = ClevrExecutor().run(program(R"J([{"function":"scene","inputs":[]},
      {"function":"filter_color","inputs":[0],"value_inputs":["green"]},{"function":"unique","inputs":[1]}])J"),
      scenes.scenes[0]);
  EXPECT_EQ(none.error, "step 2 (unique): unique needs exactly 1 object, got 0");
}

TEST(ClevrExecutor, SameLeavesTheObjectOutAndRelateReadsRelationships) {
  const auto scenes = readClevrScenes(kData + "/closure_style_scenes.json");
  // Object 3 is the only small gray cube: same_shape gives the other cube only.
  const auto r = ClevrExecutor().run(program(R"J([{"function":"scene","inputs":[]},
      {"function":"filter_color","inputs":[0],"value_inputs":["gray"]},{"function":"unique","inputs":[1]},
      {"function":"same_shape","inputs":[2]},{"function":"relate","inputs":[2],"value_inputs":["behind"]}])J"),
      scenes.scenes[0]);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.outputs[3].objects, std::vector<int>{0});
  // All coordinates are equal in this scene: only the relationships lists can give [0, 1, 2].
  EXPECT_EQ(r.outputs[4].objects, (std::vector<int>{0, 1, 2}));
}

TEST(ClevrExecutor, UnresolvedStepsFailWhereTheyStand) {
  const auto scenes = readClevrScenes(kData + "/closure_style_scenes.json");
  const auto r = ClevrExecutor().run(program(R"J([{"function":"scene","inputs":[]},
      {"function":"frobnicate","inputs":[0]},{"function":"count","inputs":[1]}])J"), scenes.scenes[0]);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failed_step, 1);
  EXPECT_EQ(r.error, "step 1 (frobnicate): unknown function 'frobnicate'");
  EXPECT_EQ(r.outputs[0].objects.size(), static_cast<size_t>(scenes.scenes[0].size()));
  const auto typed = ClevrExecutor().run(resolveProgram(program(R"J([{"function":"scene","inputs":[]},
      {"function":"filter_color","inputs":[0],"value_inputs":["pink"]},{"function":"count","inputs":[1]}])J")),
      scenes.scenes[0]);
  ASSERT_TRUE(typed.ok) << typed.error;
  EXPECT_EQ(typed.answer, "0");  // a value outside the vocabulary matches no object
}
