// Tests of GQA programs as tokens: every real GQA program (the 1,360 in the shared data) is written and read
// back to the same steps as GQA's own parse of the file, the grammar accepts each of them, random walks under
// the grammar always give programs that parse within their budget, and malformed sequences are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <sstream>

#include "datasets/gqa/gqa_io.h"
#include "program/gqa_program_codec.h"
#include "test_support.h"

namespace vqa::program {
namespace {

std::vector<GqaQuestion> realQuestions(const std::string& shared) {
  std::vector<GqaQuestion> out;
  for (const char* file : {"gqa_ood_val_bal_tail_-0.7_questions.json", "train_questions_2_matching_sceneGraphs.json"})
    for (auto& q : readGqaQuestions(shared + "/data/gqa-real/questions/" + file)) out.push_back(std::move(q));
  return out;
}

std::string squeeze(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string w; in >> w;) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The fields a model writes (groundings aside), for comparing two parses of one step.
std::string stepFields(const GqaStep& s) {
  std::string out = gqaOpName(s.op) + "|" + s.attribute + "|" + s.name + "|" + (s.negated ? "not" : "") + "|" +
                    (s.subject ? "s" : "o") + "|";
  for (const auto& v : s.values) out += v + ";";
  out += "|";
  for (const auto& r : s.relations) out += r + ";";
  out += "|";
  for (int d : s.dependencies) out += std::to_string(d) + ";";
  return out;
}

TEST(GqaProgramCodec, EveryRealProgramRoundTripsToGqasOwnParse) {
  VQA_REQUIRE_SHARED(shared);
  const auto questions = realQuestions(shared);
  ASSERT_EQ(questions.size(), 1360u);
  size_t two_inputs = 0;
  for (const auto& q : questions) {
    ASSERT_TRUE(q.has_program && q.program_error.empty()) << q.id;
    const std::vector<std::string> tokens = gqaProgramTokens(q.program);
    GqaGrammarState state;
    for (const auto& t : tokens) ASSERT_NO_THROW(state.advance(t)) << q.id << ": " << gqaTokensToString(tokens);
    EXPECT_TRUE(state.finished()) << q.id;
    const GqaProgram back = gqaProgramFromTokens(tokens);
    ASSERT_EQ(back.steps.size(), q.program.steps.size()) << q.id;
    for (size_t i = 0; i < back.steps.size(); ++i) {
      GqaStep want = q.program.steps[i];
      if (want.op != GqaOp::Relate && want.op != GqaOp::VerifyRel && want.op != GqaOp::ChooseRel) want.subject = back.steps[i].subject;
      // Words are compared as written, runs of white space read as one space ("small " is "small").
      want.name = squeeze(want.name);
      for (auto& v : want.values) v = squeeze(v);
      for (auto& r : want.relations) r = squeeze(r);
      if (want.op == GqaOp::Choose) std::sort(want.values.begin(), want.values.end());  // written in sorted order
      if (want.op == GqaOp::ChooseRel) std::sort(want.relations.begin(), want.relations.end());
      EXPECT_EQ(stepFields(back.steps[i]), stepFields(want)) << q.id << " step " << i;
      two_inputs += back.steps[i].dependencies.size() == 2;
    }
    EXPECT_EQ(gqaProgramTokens(back), tokens) << q.id;
  }
  EXPECT_GT(two_inputs, 10u);  // and/or/compare steps are among them
}

TEST(GqaProgramCodec, WritesTheDocumentedTokens) {
  const nlohmann::json semantic = nlohmann::json::parse(R"json([
    {"operation": "select", "dependencies": [], "argument": "wall (722332)"},
    {"operation": "filter color", "dependencies": [0], "argument": "not(white)"},
    {"operation": "relate", "dependencies": [1], "argument": "_,to the left of,s (722335)"},
    {"operation": "select", "dependencies": [], "argument": "fire hydrant"},
    {"operation": "choose rel", "dependencies": [3], "argument": "car,under|on,o"},
    {"operation": "same color", "dependencies": [2, 3], "argument": ""},
    {"operation": "or", "dependencies": [4, 5], "argument": ""}])json");
  const auto tokens = gqaProgramTokens(parseGqaProgram(semantic));
  EXPECT_EQ(gqaTokensToString(tokens),
            "<select> wall <sep> <filter> <attr:color> <not> white <sep> <dep1> <relate> _ <sep> to the left of <sep> "
            "<s> <dep1> <select> fire hydrant <sep> <choose_rel> car <sep> on <alt> under <sep> <o> <dep1> <same> "
            "<attr:color> <dep3> <dep2> <or> <dep2> <dep1> <end>");
  const GqaProgram back = gqaProgramFromTokens(tokens);
  EXPECT_EQ(back.steps[1].operation, "filter color");
  EXPECT_EQ(back.steps[1].argument, "not(white)");
  EXPECT_EQ(back.steps[2].argument, "_,to the left of,s");
  EXPECT_EQ(back.steps[4].argument, "car,on|under,o");  // options in sorted order
  EXPECT_EQ(back.steps[5].dependencies, (std::vector<int>{2, 3}));
}

TEST(GqaProgramCodec, RandomWalksUnderTheGrammarAlwaysParseWithinTheirBudget) {
  std::mt19937 random(7);
  const std::vector<std::string> words = {"man", "shirt", "to", "the", "left", "of", "red", "_"};
  const auto& ops = gqaOperationTokens();
  int multi_step = 0;
  for (int walk = 0; walk < 3000; ++walk) {
    const int budget = 4 + static_cast<int>(random() % 60);
    GqaGrammarState state;
    std::vector<std::string> tokens;
    for (int used = 0; !state.finished(); ++used) {
      ASSERT_LT(used, budget) << gqaTokensToString(tokens);
      const int left = budget - used;
      std::vector<std::string> options;
      for (size_t k = 0; k < ops.size(); ++k)
        if (state.allows(GqaTokenClass::Operation, left, static_cast<int>(k))) options.push_back(ops[k]);
      for (int d = 1; d <= kGqaMaxDependencyOffset; ++d)
        if (state.allows(GqaTokenClass::Dependency, left, -1, d)) options.push_back(gqaDependencyToken(d));
      if (state.allows(GqaTokenClass::Attribute, left)) options.push_back("<attr:color>");
      if (state.allows(GqaTokenClass::NoAttribute, left)) options.push_back("<attr:>");
      if (state.allows(GqaTokenClass::Word, left)) options.push_back(words[random() % words.size()]);
      if (state.allows(GqaTokenClass::Sep, left)) options.push_back(kGqaSep);
      if (state.allows(GqaTokenClass::Alt, left)) options.push_back(kGqaAlt);
      if (state.allows(GqaTokenClass::Not, left)) options.push_back(kGqaNot);
      if (state.allows(GqaTokenClass::Subject, left)) options.push_back("<s>");
      if (state.allows(GqaTokenClass::Object, left)) options.push_back("<o>");
      if (state.allows(GqaTokenClass::End, left)) options.push_back(kGqaEnd);
      ASSERT_FALSE(options.empty()) << "stuck after " << gqaTokensToString(tokens);
      const std::string token = options[random() % options.size()];
      state.advance(token);
      tokens.push_back(token);
    }
    GqaProgram program;
    ASSERT_NO_THROW(program = gqaProgramFromTokens(tokens)) << gqaTokensToString(tokens);
    // Written back, the program is the same up to the order of choose options (sorted): a fixed point.
    const std::vector<std::string> canonical = gqaProgramTokens(program);
    EXPECT_EQ(canonical.size(), tokens.size());
    EXPECT_EQ(gqaProgramTokens(gqaProgramFromTokens(canonical)), canonical);
    multi_step += program.steps.size() > 2;
  }
  EXPECT_GT(multi_step, 100);
}

TEST(GqaProgramCodec, MalformedSequencesAreRefusedNamingTheToken) {
  auto error = [](const std::vector<std::string>& tokens) {
    try {
      gqaProgramFromTokens(tokens);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error({"<select>", "wall", "<sep>", "<relate>", "_", "<sep>", "<end>"}),
            "token '<end>' does not fit after 1 steps");
  EXPECT_EQ(error({"<relate>", "_", "<sep>", "on", "<sep>", "<s>", "<dep1>", "<end>"}),
            "token '<relate>' does not fit after 0 steps");  // nothing to relate to
  EXPECT_EQ(error({"<select>", "car", "<sep>", "<choose_rel>", "_", "<sep>", "on", "<alt>", "in", "<alt>"}),
            "token '<alt>' does not fit after 1 steps");  // choose rel compares two relations
  EXPECT_EQ(error({"<exist>", "<dep1>", "<end>"}), "token '<exist>' does not fit after 0 steps");
  EXPECT_EQ(error({"<select>", "wall", "<sep>", "<query>", "<attr:name>", "<dep2>", "<end>"}),
            "token '<dep2>' does not fit after 1 steps");
  EXPECT_EQ(error({"<select>", "wall", "<sep>"}), "the program does not end with <end>");
  EXPECT_EQ(error({"<select>", "wall", "<sep>", "<query>", "<attr:>", "<dep1>", "<end>"}),
            "token '<attr:>' does not fit after 1 steps");
  GqaProgram far;
  far.steps.resize(1);
  far.steps[0] = parseGqaStep("exist", "?", {0});
  EXPECT_THROW(gqaProgramTokens(far), std::runtime_error);  // a dependency on itself
}

}  // namespace
}  // namespace vqa::program
