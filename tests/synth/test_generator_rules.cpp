// The generator follows CLEVR's own rules (render_images.py, generate_questions.py), checked from the
// output alone: the object count is drawn once per scene, no question is degenerate (re-run with a relate
// step replaced by the whole scene), no plain `filter` node is left without a value, answer counts start
// over every 250 images, and each question's text says what its program does.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "core/vocab.h"
#include "datasets/synth/question_engine.h"
#include "datasets/synth/scene_sampler.h"
#include "executor/symbolic_executor.h"
#include "synth/clevr_rule_checks.h"
#include "test_support.h"

using namespace vqa::synth;

namespace {

std::vector<vqa::SceneGraph> scenes(int n, uint64_t first_seed = 500) {
  std::vector<vqa::SceneGraph> out;
  for (int i = 0; i < n; ++i) {
    std::mt19937_64 rng(first_seed + uint64_t(i));
    out.push_back(sampleScene(rng, {}, {}).scene);
  }
  return out;
}

std::string officialTemplates(const std::string& shared) {
  return shared + "/data/clevr-gen/question_generation/CLEVR_1.0_templates";
}

std::vector<QuestionFamily> familiesWhere(const std::vector<QuestionFamily>& all,
                                          bool (*keep)(const vqa::ClevrTemplate&)) {
  std::vector<QuestionFamily> out;
  for (const auto& f : all)
    if (keep(f.tmpl)) out.push_back(f);
  return out;
}

bool hasNode(const vqa::ClevrTemplate& t, const std::string& type) {
  return std::any_of(t.nodes.begin(), t.nodes.end(), [&](const auto& n) { return n.type == type; });
}
bool hasRelateNode(const vqa::ClevrTemplate& t) { return hasNode(t, "relate"); }
bool hasFilterNode(const vqa::ClevrTemplate& t) { return hasNode(t, "filter"); }

// True when some relate step can be replaced by the whole scene without changing the answer.
bool degenerate(const vqa::Program& p, const vqa::SceneGraph& scene, const std::string& answer) {
  return vqa::synth::checks::degenerate(vqa::ClevrExecutor(), p, scene, answer);
}

// A set operation fed straight from `scene`: a `filter` node that named no value.
bool hasEmptyFilter(const vqa::Program& p) {
  for (const auto& n : p.nodes)
    if (n.function == "union" || n.function == "intersect")
      for (int in : n.inputs)
        if (p.nodes[size_t(in)].function == "scene") return true;
  return false;
}

std::string padded(const std::string& text) {
  std::string t = " ";
  for (char c : text) t += (c == '?' || c == ';' || c == ',') ? ' ' : char(std::tolower(static_cast<unsigned char>(c)));
  return t + " ";
}

// Does `text` hold `value` or one of its CLEVR synonyms, starting a word (plurals allowed)?
bool mentions(const std::string& text, const std::string& value) {
  std::vector<std::string> forms = {value};
  auto syn = vqa::clevr::synonyms().find(value);
  if (syn != vqa::clevr::synonyms().end()) forms = syn->second;
  const std::string t = padded(text);
  for (const auto& f : forms)
    if (t.find(" " + f) != std::string::npos) return true;
  return false;
}

bool startsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// Checks one question's text against its program (never against an answer): every filter value and
// relation is named, same_X / equal_X name the attribute, nothing after same_X re-filters on X, and a
// same_X question says "other" / "another" / "else" exactly when the two descriptions do not already tell
// the objects apart.
void expectTextMatchesProgram(const GeneratedQuestion& q) {
  const auto& nodes = q.program.nodes;
  EXPECT_EQ(q.text.find('<'), std::string::npos) << q.text;
  EXPECT_EQ(q.text.find('['), std::string::npos) << q.text;
  for (const auto& n : nodes) {
    if (startsWith(n.function, "filter_") || n.function == "relate") {
      ASSERT_EQ(n.value_inputs.size(), 1u);
      EXPECT_TRUE(mentions(q.text, n.value_inputs[0])) << "'" << q.text << "' does not name " << n.value_inputs[0];
    }
  }
  for (size_t k = 0; k < nodes.size(); ++k) {
    const std::string& fn = nodes[k].function;
    if (!startsWith(fn, "same_") && !startsWith(fn, "equal_")) continue;
    const std::string attr = fn.substr(fn.find('_') + 1);
    if (attr == "integer") continue;
    EXPECT_NE(padded(q.text).find(" " + attr + " "), std::string::npos) << q.text << " (" << fn << ")";
    if (!startsWith(fn, "same_")) continue;
    // Filters on the object before same_X and on the set after it.
    std::map<std::string, std::string> before, after;
    for (size_t j = 0; j < nodes.size(); ++j)
      if (startsWith(nodes[j].function, "filter_"))
        (j < k ? before : after)[nodes[j].function.substr(7)] = nodes[j].value_inputs[0];
    EXPECT_EQ(after.count(attr), 0u) << q.text << ": filters on " << attr << " after " << fn;
    bool told_apart = false;
    for (const auto& [a, v] : after)
      if (before.count(a) && before[a] != v) told_apart = true;
    const std::string t = padded(q.text);
    const bool says_other = t.find(" other ") != std::string::npos || t.find(" another ") != std::string::npos ||
                            t.find(" else ") != std::string::npos;
    EXPECT_EQ(says_other, !told_apart) << q.text;
  }
}

std::vector<GeneratedQuestion> generateMany(QuestionEngine& engine, const std::vector<vqa::SceneGraph>& s, int per_scene,
                                            uint64_t seed = 11) {
  std::mt19937_64 rng(seed);
  std::vector<GeneratedQuestion> out;
  for (const auto& scene : s)
    for (auto& q : engine.generate(scene, per_scene, rng)) out.push_back(std::move(q));
  return out;
}

}  // namespace

TEST(SynthRules, EveryObjectCountIsEquallyLikely) {
  // render_images.py draws the count once and retries only the placement; drawing it again on every retry
  // makes crowded scenes rare (10 objects in about 1% of scenes instead of 12.5%).
  std::map<int, int> counts;
  const int n = 240;
  for (const auto& s : scenes(n, 7000)) counts[s.size()]++;
  for (int k = 3; k <= 10; ++k) EXPECT_GE(counts[k], n * 6 / 100) << k << " objects in " << counts[k] << " of " << n;
}

// Generates questions from `families` on `sceneCount` sampled scenes and fails on every degenerate one (at most
// four reported); returns how many questions were checked.
size_t expectNoDegenerateQuestion(const std::vector<QuestionFamily>& families, int sceneCount, uint64_t seed) {
  QuestionEngine engine(families);
  std::mt19937_64 rng(seed);
  size_t checked = 0, bad = 0;
  for (const auto& scene : scenes(sceneCount))
    for (const auto& q : engine.generate(scene, int(families.size()), rng)) {
      ++checked;
      if (degenerate(q.program, scene, q.answer)) {
        ADD_FAILURE() << "degenerate: " << q.text << " (" << q.answer << ")";
        if (++bad > 3) return checked;
      }
    }
  return checked;
}

TEST(SynthRules, NoDegenerateQuestionOwnTemplates) {
  auto families = familiesWhere(loadQuestionFamilies(defaultTemplateDir()), hasRelateNode);
  ASSERT_FALSE(families.empty());
  EXPECT_GT(expectNoDegenerateQuestion(families, 20, 11), 20u);
}

TEST(SynthRules, NoDegenerateQuestionOfficialTemplates) {
  VQA_REQUIRE_SHARED(shared);
  auto families = familiesWhere(loadQuestionFamilies(officialTemplates(shared)), hasRelateNode);
  ASSERT_EQ(families.size(), 5u);  // single_and
  EXPECT_GT(expectNoDegenerateQuestion(families, 30, 3), 30u);
}

TEST(SynthRules, DegenerateCheckMatchesClevrDefinition) {
  // A sphere and a cube left of it. "How many things are left of the sphere?" is 1, and 2 with the relate
  // step replaced by the scene: not degenerate. "Is there anything left of the sphere?" is "yes" either way.
  vqa::SceneGraph g;
  for (int i = 0; i < 2; ++i) {
    vqa::SceneObject o;
    o.attributes = {{"color", "red"}, {"shape", i ? "cube" : "sphere"}, {"material", "metal"}, {"size", "large"}};
    g.addObject(o);
  }
  g.addRelation(1, 0, "left");  // object 1 is left of object 0
  vqa::Program p;
  p.nodes = {{"scene", {}, {}}, {"filter_shape", {0}, {"sphere"}}, {"unique", {1}, {}}, {"relate", {2}, {"left"}},
             {"count", {3}, {}}};
  vqa::ClevrTemplate t;
  t.nodes = {{"scene", {}, {}}, {"filter_unique", {0}, {"<S>"}}, {"relate", {1}, {"<R>"}}, {"count", {2}, {}}};
  EXPECT_FALSE(isDegenerate(t, p, g, "1"));
  EXPECT_FALSE(degenerate(p, g, "1"));
  p.nodes[4] = {"exist", {3}, {}};
  EXPECT_TRUE(isDegenerate(t, p, g, "yes"));  // "is there anything left of the sphere" = "is there anything"
  EXPECT_TRUE(degenerate(p, g, "yes"));
  t.nodes[2].type = "relate_filter_count";  // CLEVR only checks templates with a plain relate node
  EXPECT_FALSE(isDegenerate(t, p, g, "yes"));
}

TEST(SynthRules, FilterNodesAlwaysNameAValue) {
  auto families = familiesWhere(loadQuestionFamilies(defaultTemplateDir()), hasFilterNode);
  ASSERT_FALSE(families.empty());
  QuestionEngine engine(families);
  auto questions = generateMany(engine, scenes(40), int(families.size()));
  ASSERT_GE(questions.size(), 40u);
  for (const auto& q : questions) EXPECT_FALSE(hasEmptyFilter(q.program)) << q.text;
}

TEST(SynthRules, FilterNodesAlwaysNameAValueOfficialTemplates) {
  VQA_REQUIRE_SHARED(shared);
  auto families = familiesWhere(loadQuestionFamilies(officialTemplates(shared)), hasFilterNode);
  ASSERT_EQ(families.size(), 7u);  // single_or
  QuestionEngine engine(families);
  auto questions = generateMany(engine, scenes(30), 7);
  ASSERT_GT(questions.size(), 60u);
  for (const auto& q : questions) EXPECT_FALSE(hasEmptyFilter(q.program)) << q.text;
}

TEST(SynthRules, AnswerCountsStartOverEvery250Images) {
  auto all = loadQuestionFamilies(defaultTemplateDir());
  std::vector<QuestionFamily> one = {all.front()};
  QuestionEngine engine(one);
  auto s = scenes(5);
  std::mt19937_64 rng(2);
  auto total = [&] {
    long n = 0;
    for (const auto& [a, c] : engine.answerCounts().at(one[0].family_index)) n += c;
    return n;
  };
  long made = 0;
  for (int i = 0; i < 250; ++i) made += long(engine.generate(s[size_t(i) % s.size()], 1, rng).size());
  ASSERT_GT(made, 100);
  EXPECT_EQ(total(), made);
  long next = long(engine.generate(s[0], 1, rng).size());
  EXPECT_EQ(total(), next);  // image 251 starts a new window
  EXPECT_EQ(engine.questionsPerFamily().at(one[0].family_index), made + next);
}

TEST(SynthRules, EqualCountsAreAllowedInCompareInteger) {
  // Deliberately unlike CLEVR's code, whose OUT_NEQ on the two counts makes "the same number" always "no".
  auto all = loadQuestionFamilies(defaultTemplateDir());
  std::vector<QuestionFamily> equal;
  for (const auto& f : all)
    if (f.tmpl.nodes.back().type == "equal_integer") equal.push_back(f);
  ASSERT_FALSE(equal.empty());
  QuestionEngine engine(equal);
  std::map<std::string, int> answers;
  for (const auto& q : generateMany(engine, scenes(30), 1)) answers[q.answer]++;
  EXPECT_GT(answers["yes"], 0);
  EXPECT_GT(answers["no"], 0);
}

// Generates at least 300 questions from `families` on 25 sampled scenes; each text must match its program.
void expectEveryTextMatchesItsProgram(const std::vector<QuestionFamily>& families) {
  QuestionEngine engine(families);
  auto questions = generateMany(engine, scenes(25), 20);
  ASSERT_GT(questions.size(), 300u);
  for (const auto& q : questions) {
    SCOPED_TRACE(q.text);
    expectTextMatchesProgram(q);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(SynthRules, TextMatchesProgramOwnTemplates) {
  expectEveryTextMatchesItsProgram(loadQuestionFamilies(defaultTemplateDir()));
}

TEST(SynthRules, TextMatchesProgramOfficialTemplates) {
  VQA_REQUIRE_SHARED(shared);
  expectEveryTextMatchesItsProgram(loadQuestionFamilies(officialTemplates(shared)));
}

TEST(SynthRules, NeqConstraintKeepsTheTwoValuesApart) {
  std::string dir = vqa::testing::scratchDir();
  vqa::testing::writeFile(dir + "/neq.json", R"([{"text": ["Are there more <C> things than <C2> things?"],
    "nodes": [{"type": "scene", "inputs": []}, {"type": "filter_count", "inputs": [0], "side_inputs": ["<C>"]},
              {"type": "scene", "inputs": []}, {"type": "filter_count", "inputs": [2], "side_inputs": ["<C2>"]},
              {"type": "greater_than", "inputs": [1, 3]}],
    "params": [{"type": "Color", "name": "<C>"}, {"type": "Color", "name": "<C2>"}],
    "constraints": [{"type": "NEQ", "params": ["<C>", "<C2>"]}]}])");
  QuestionEngine engine(loadQuestionFamilies(dir));
  int both = 0;
  for (const auto& q : generateMany(engine, scenes(30), 1)) {
    std::vector<std::string> colors;
    for (const auto& n : q.program.nodes)
      if (n.function == "filter_color") colors.push_back(n.value_inputs[0]);
    if (colors.size() == 2) {
      ++both;
      EXPECT_NE(colors[0], colors[1]) << q.text;
    }
  }
  EXPECT_GT(both, 3);
}

namespace {
std::string loadError(const std::string& file, const std::string& json) {
  std::string dir = vqa::testing::scratchDir();
  vqa::testing::writeFile(dir + "/" + file, json);
  try {
    loadQuestionFamilies(dir);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}
const char* kCountNodes = R"("nodes": [{"type": "scene", "inputs": []},
    {"type": "filter_count", "inputs": [0], "side_inputs": ["<C>", "<S>"]}],
    "params": [{"type": "Color", "name": "<C>"}, {"type": "Shape", "name": "<S>"}])";
}  // namespace

TEST(SynthRules, NonsenseTemplatesAreRefusedWhenRead) {
  std::string e = loadError("numeric.json", std::string(R"([{"text": [7], )") + kCountNodes + "}]");
  EXPECT_NE(e.find("numeric.json: template 0: text 7 is not a string"), std::string::npos) << e;
  e = loadError("placeholder.json", std::string(R"([{"text": ["How many <Q> things?"], )") + kCountNodes + "}]");
  EXPECT_NE(e.find("placeholder.json: template 0: "), std::string::npos) << e;
  EXPECT_NE(e.find("<Q>"), std::string::npos) << e;
  e = loadError("self.json", std::string(R"([{"text": ["How many <C> <S>s?"], )") + kCountNodes +
                                 R"(, "constraints": [{"type": "NEQ", "params": ["<C>", "<C>"]}]}])");
  EXPECT_NE(e.find("self.json: template 0: NEQ constraint between <C> and itself"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}
