// The template question engine: template sets, CLEVR's rules, released-format programs, bad templates.
#include <gtest/gtest.h>

#include <set>

#include "core/program.h"
#include "datasets/synth/question_engine.h"
#include "datasets/synth/scene_sampler.h"
#include "executor/symbolic_executor.h"
#include "test_support.h"

using namespace vqa::synth;

namespace {
std::vector<vqa::SceneGraph> someScenes(int n) {
  std::vector<vqa::SceneGraph> out;
  for (int i = 0; i < n; ++i) {
    std::mt19937_64 rng(100 + i);
    out.push_back(sampleScene(rng, {}, {}).scene);
  }
  return out;
}

void checkQuestions(QuestionEngine& engine, const std::vector<vqa::SceneGraph>& scenes, std::set<int>* families) {
  std::mt19937_64 rng(7);
  vqa::ClevrExecutor ex;
  for (const auto& scene : scenes) {
    for (const auto& q : engine.generate(scene, 10, rng)) {
      families->insert(q.family_index);
      EXPECT_NO_THROW(vqa::validateProgram(q.program)) << q.text;
      for (const auto& n : q.program.nodes) {
        const auto* f = vqa::findFunction(n.function);
        ASSERT_NE(f, nullptr);
        EXPECT_FALSE(f->template_only) << n.function;
      }
      auto r = ex.run(q.program, scene);
      ASSERT_TRUE(r.ok) << r.error;
      EXPECT_EQ(r.answer, q.answer);
      EXPECT_EQ(q.text.find('<'), std::string::npos) << q.text;
      EXPECT_EQ(q.text.find('['), std::string::npos) << q.text;
      EXPECT_EQ(q.text.find("  "), std::string::npos) << q.text;
    }
  }
}

std::string writeTemplates(const std::string& dir, const std::string& name, const std::string& json) {
  vqa::testing::writeFile(dir + "/" + name, json);
  return dir;
}
}  // namespace

TEST(SynthQuestions, OwnTemplatesCoverNineCategories) {
  auto families = loadQuestionFamilies(defaultTemplateDir());
  std::set<std::string> files;
  for (size_t i = 0; i < families.size(); ++i) {
    files.insert(families[i].tmpl.file);
    EXPECT_EQ(families[i].family_index, int(i));
  }
  EXPECT_EQ(files, (std::set<std::string>{"compare_integer.json", "comparison.json", "three_hop.json", "single_and.json",
                                          "same_relate.json", "single_or.json", "one_hop.json", "two_hop.json",
                                          "zero_hop.json"}));
  EXPECT_EQ(families.front().tmpl.file, "compare_integer.json");
  QuestionEngine engine(families);
  std::set<int> used;
  checkQuestions(engine, someScenes(8), &used);
  EXPECT_GE(used.size(), families.size() * 3 / 4);
}

TEST(SynthQuestions, OfficialTemplatesUseReleasedFamilyIndex) {
  VQA_REQUIRE_SHARED(shared);
  auto families = loadQuestionFamilies(shared + "/data/clevr-gen/question_generation/CLEVR_1.0_templates");
  ASSERT_EQ(families.size(), 90u);
  EXPECT_EQ(families[0].tmpl.file, "compare_integer.json");
  EXPECT_EQ(families[26].tmpl.file, "three_hop.json");
  EXPECT_EQ(families[31].tmpl.file, "single_and.json");
  EXPECT_EQ(families[67].tmpl.file, "single_or.json");
  EXPECT_EQ(families[84].tmpl.file, "zero_hop.json");
  QuestionEngine engine(families);
  std::set<int> used;
  checkQuestions(engine, someScenes(4), &used);
  EXPECT_GE(used.size(), 30u);
}

TEST(SynthQuestions, AnswersAreBalancedWithinAFamily) {
  auto families = loadQuestionFamilies(defaultTemplateDir());
  std::vector<QuestionFamily> exist;
  for (const auto& f : families)
    if (f.tmpl.file == "zero_hop.json" && f.tmpl.nodes.back().type == "filter_exist") exist.push_back(f);
  ASSERT_EQ(exist.size(), 1u);
  QuestionEngine engine(exist);
  std::mt19937_64 rng(3);
  std::map<std::string, int> answers;
  for (const auto& scene : someScenes(30))
    for (const auto& q : engine.generate(scene, 1, rng)) answers[q.answer]++;
  ASSERT_GT(answers["yes"] + answers["no"], 20);
  EXPECT_LE(std::abs(answers["yes"] - answers["no"]), 2);
}

TEST(SynthQuestions, UnknownFunctionIsAnError) {
  std::string dir = vqa::testing::scratchDir();
  writeTemplates(dir, "bad.json", R"([{"text": ["How many?"], "nodes": [{"type": "scene", "inputs": []},
    {"type": "count_sheep", "inputs": [0]}], "params": [], "constraints": []}])");
  try {
    loadQuestionFamilies(dir);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("count_sheep"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
}

TEST(SynthQuestions, ParamWithNoValuesIsAnError) {
  std::string dir = vqa::testing::scratchDir();
  writeTemplates(dir, "bad.json", R"([{"text": ["Is there a <O>?"], "nodes": [{"type": "scene", "inputs": []},
    {"type": "exist", "inputs": [0]}], "params": [{"type": "Object", "name": "<O>"}], "constraints": []}])");
  try {
    loadQuestionFamilies(dir);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("<O>"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
}

TEST(SynthQuestions, ImpossibleConstraintsGiveUpNamingTheTemplate) {
  std::string dir = vqa::testing::scratchDir();
  // The two filtered sets must differ (OUT_NEQ) yet both filters must be empty (NULL): never satisfiable.
  writeTemplates(dir, "impossible.json", R"([{"text": ["Are there as many <S>s as <S2>s?"],
    "nodes": [{"type": "scene", "inputs": []}, {"type": "filter_count", "inputs": [0], "side_inputs": ["<S>"]},
              {"type": "scene", "inputs": []}, {"type": "filter_count", "inputs": [2], "side_inputs": ["<S2>"]},
              {"type": "equal_integer", "inputs": [1, 3]}],
    "params": [{"type": "Shape", "name": "<S>"}, {"type": "Shape", "name": "<S2>"}],
    "constraints": [{"type": "NULL", "params": ["<S>", "<S2>"]}, {"type": "OUT_NEQ", "params": [1, 3]}]}])");
  QuestionEngineOptions opt;
  opt.tries_per_template = 20;
  opt.give_up_tries = 100;
  QuestionEngine engine(loadQuestionFamilies(dir), opt);
  auto scenes = someScenes(1);
  std::mt19937_64 rng(1);
  try {
    for (int i = 0; i < 10; ++i) engine.generate(scenes[0], 1, rng);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("impossible.json #0"), std::string::npos) << m;
    EXPECT_NE(m.find("gave up after 100 tries"), std::string::npos) << m;
  }
}
