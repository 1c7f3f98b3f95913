// Tests for src/core: vocabularies, the Program IR (parse/print/validate/topological order), the typed
// program form and program tokens, the SceneGraph, and the GQA operation parser for every operation form.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/gqa_program.h"
#include "core/program.h"
#include "core/scene_graph.h"
#include "core/typed_program.h"
#include "core/vocab.h"

using namespace vqa;
using nlohmann::json;

TEST(Vocab, AnswerSpaceIsClevrs28) {
  EXPECT_EQ(clevr::answers().size(), 28u);
  EXPECT_EQ(clevr::answerIndex("yes"), 0);
  EXPECT_EQ(clevr::answerIndex("10"), 12);
  EXPECT_EQ(clevr::answerIndex("rubber"), 26);
  EXPECT_EQ(clevr::answerIndex("shiny"), -1);
  clevr::Attribute a;
  ASSERT_TRUE(clevr::parseAttribute("Material", &a));
  EXPECT_EQ(clevr::valueIndex(a, "metal"), 1);
}

static json releasedProgram() {
  return json::parse(R"J([
    {"inputs": [], "function": "scene", "value_inputs": []},
    {"inputs": [0], "function": "filter_size", "value_inputs": ["large"]},
    {"inputs": [1], "function": "unique", "value_inputs": [], "_output": 3},
    {"inputs": [2], "function": "query_color", "value_inputs": []}])J");
}

TEST(Program, ParsesAndPrintsBothSpellings) {
  const Program p = parseProgram(releasedProgram());
  ASSERT_EQ(p.size(), 4);
  EXPECT_EQ(p.nodes[1].value_inputs, std::vector<std::string>{"large"});
  validateProgram(p);
  EXPECT_EQ(outputType(p), ValueType::Color);
  const json gen = programToJson(p, ProgramSpelling::Generator);
  EXPECT_EQ(gen[1]["type"], "filter_size");
  EXPECT_EQ(gen[1]["side_inputs"][0], "large");
  EXPECT_FALSE(gen[0].contains("side_inputs"));
  const Program back = parseProgram(gen);
  EXPECT_EQ(programToJson(back), programToJson(p));
  json released = releasedProgram();
  released[2].erase("_output");
  EXPECT_EQ(programToJson(p), released);
  EXPECT_EQ(programToString(p), "scene; filter_size[large](0); unique(1); query_color(2)");
}

static std::string validationError(const std::string& text) {
  try {
    validateProgram(parseProgram(json::parse(text)));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(Program, ValidationNamesStepAndProblem) {
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"filter_colour","inputs":[0],"value_inputs":["red"]}])J"),
            "step 1: unknown function 'filter_colour'");
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[1]},{"function":"count","inputs":[0]}])J"),
            "step 0: 'scene' takes 0 inputs, got 1");
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"count","inputs":[1]}])J"),
            "step 1: input 1 points forward (inputs must be earlier steps)");
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"count","inputs":[7]}])J"),
            "step 1: input 7 is out of range (program has 2 steps)");
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"count","inputs":[-1]}])J"),
            "step 1: input -1 is out of range (program has 2 steps)");
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"query_color","inputs":[0]}])J"),
            "step 1: 'query_color' input 0 must be Object, step 0 gives ObjectSet");
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"filter_color","inputs":[0],"value_inputs":["pink"]}])J"),
            "step 1: 'pink' is not a Color");
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"filter_count","inputs":[0]}])J"),
            "step 1: 'filter_count' is a template-only function");
  EXPECT_EQ(validationError("[]"), "empty program");
  EXPECT_THROW(parseProgram(json::parse(R"J([{"inputs":[]}])J")), std::runtime_error);
  EXPECT_THROW(parseProgram(json::parse(R"J([{"function":"scene","inputs":["0"]}])J")), std::runtime_error);
}

TEST(Program, TopologicalOrderAndCycles) {
  const auto order = topologicalOrder({{}, {0}, {}, {1, 2}});
  ASSERT_EQ(order.size(), 4u);
  auto pos = [&](int v) { return std::find(order.begin(), order.end(), v) - order.begin(); };
  EXPECT_LT(pos(0), pos(1));
  EXPECT_LT(pos(1), pos(3));
  EXPECT_LT(pos(2), pos(3));
  EXPECT_THROW(topologicalOrder({{1}, {0}}), std::runtime_error);
  EXPECT_THROW(topologicalOrder({{0}}), std::runtime_error);
  EXPECT_THROW(topologicalOrder({{5}}), std::runtime_error);
}

TEST(SceneGraph, RelationsAreSubjectToObjectEdges) {
  SceneGraph g;
  for (int i = 0; i < 3; ++i) g.addObject({});
  g.addRelation(1, 0, "left");  // 1 is left of 0
  g.addRelation(2, 0, "left");
  g.addRelation(2, 1, "left");
  EXPECT_EQ(g.subjectsOf(0, "left"), (std::vector<int>{1, 2}));
  EXPECT_EQ(g.objectsOf(2, "left"), (std::vector<int>{0, 1}));
  EXPECT_TRUE(g.hasRelation(2, 1, "left"));
  EXPECT_FALSE(g.hasRelation(1, 2, "left"));
  EXPECT_EQ(g.numRelations(), 3);
  EXPECT_EQ(g.findObject("2"), 2);
  EXPECT_THROW(g.addRelation(0, 9, "left"), std::runtime_error);
  SceneObject dup;
  dup.id = "1";
  EXPECT_THROW(g.addObject(dup), std::runtime_error);
}

TEST(GqaProgram, ParsesEveryOperationForm) {
  GqaStep s = parseGqaStep("select", "wall (722332)", {});
  EXPECT_EQ(s.op, GqaOp::Select);
  EXPECT_EQ(s.name, "wall");
  EXPECT_EQ(s.object_ids, std::vector<std::string>{"722332"});
  s = parseGqaStep("select", "shirts (1,2)", {});
  EXPECT_EQ(s.object_ids, (std::vector<std::string>{"1", "2"}));
  s = parseGqaStep("select", "cat (-)", {});
  EXPECT_TRUE(s.absent);
  EXPECT_EQ(parseGqaStep("select", "scene", {}).name, "scene");

  s = parseGqaStep("relate", "_,to the left of,s (722335)", {0});
  EXPECT_EQ(s.op, GqaOp::Relate);
  EXPECT_EQ(s.name, "_");
  EXPECT_EQ(s.relations, std::vector<std::string>{"to the left of"});
  EXPECT_TRUE(s.subject);
  EXPECT_FALSE(parseGqaStep("relate", "jacket,wearing,o (4340200)", {0}).subject);

  s = parseGqaStep("filter color", "not(white)", {0});
  EXPECT_EQ(s.op, GqaOp::Filter);
  EXPECT_EQ(s.attribute, "color");
  EXPECT_TRUE(s.negated);
  EXPECT_EQ(s.values, std::vector<std::string>{"white"});
  s = parseGqaStep("filter", "young ", {0});
  EXPECT_EQ(s.attribute, "");
  EXPECT_EQ(s.values, std::vector<std::string>{"young"});
  s = parseGqaStep("verify color", "dark", {0});
  EXPECT_EQ(s.op, GqaOp::Verify);
  s = parseGqaStep("verify rel", "stove,to the left of,o (-)", {0});
  EXPECT_EQ(s.op, GqaOp::VerifyRel);
  EXPECT_TRUE(s.absent);
  s = parseGqaStep("choose material", "steel|stone", {0});
  EXPECT_EQ(s.op, GqaOp::Choose);
  EXPECT_EQ(s.values, (std::vector<std::string>{"steel", "stone"}));
  s = parseGqaStep("choose rel", "giraffe,to the left of|to the right of,s (2968952)", {0});
  EXPECT_EQ(s.op, GqaOp::ChooseRel);
  EXPECT_EQ(s.relations, (std::vector<std::string>{"to the left of", "to the right of"}));
  s = parseGqaStep("choose healthier", "", {0, 1});
  EXPECT_EQ(s.op, GqaOp::Compare);
  EXPECT_EQ(s.attribute, "healthier");
  EXPECT_EQ(parseGqaStep("query", "name", {2}).attribute, "name");
  EXPECT_EQ(parseGqaStep("exist", "?", {0}).op, GqaOp::Exist);
  EXPECT_EQ(parseGqaStep("and", "", {1, 3}).op, GqaOp::And);
  EXPECT_EQ(parseGqaStep("or", "", {1, 3}).op, GqaOp::Or);
  s = parseGqaStep("same", "gender", {0});
  EXPECT_EQ(s.op, GqaOp::Same);
  EXPECT_EQ(s.attribute, "gender");
  s = parseGqaStep("same color", "", {0, 1});
  EXPECT_EQ(s.attribute, "color");
  EXPECT_EQ(parseGqaStep("different shape", "", {0, 1}).op, GqaOp::Different);
  EXPECT_EQ(parseGqaStep("different", "color", {0}).attribute, "color");
  EXPECT_EQ(parseGqaStep("common", "", {0, 1}).op, GqaOp::Common);
}

TEST(GqaProgram, RejectsMalformedSteps) {
  EXPECT_THROW(parseGqaStep("teleport", "x", {0}), std::runtime_error);
  EXPECT_THROW(parseGqaStep("relate", "wall,on (1)", {0}), std::runtime_error);
  EXPECT_THROW(parseGqaStep("relate", "wall,on,x (1)", {0}), std::runtime_error);
  EXPECT_THROW(parseGqaStep("and", "", {0}), std::runtime_error);
  EXPECT_THROW(parseGqaStep("choose color", "red", {0}), std::runtime_error);
  EXPECT_THROW(parseGqaStep("select", "", {}), std::runtime_error);
  try {
    parseGqaProgram(json::parse(R"J([{"operation":"select","argument":"a (1)","dependencies":[]},
      {"operation":"relate","argument":"_,on,s (2)","dependencies":[2]},
      {"operation":"relate","argument":"_,on,s (3)","dependencies":[1]}])J"));
    FAIL() << "a cycle must be rejected";
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "dependencies form a cycle");
  }
  try {
    parseGqaProgram(json::parse(R"J([{"operation":"exist","argument":"?","dependencies":[4]}])J"));
    FAIL() << "an out-of-range dependency must be rejected";
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "step 0: dependency 4 is out of range (1 steps)");
  }
  const GqaProgram ok = parseGqaProgram(json::parse(R"J([{"operation":"select","argument":"a (1)","dependencies":[]},
      {"operation":"exist","argument":"?","dependencies":[0]}])J"));
  EXPECT_EQ(ok.order, (std::vector<int>{0, 1}));
}

TEST(JsonInt, ReadsIntegersInRangeAndRefusesEverythingElse) {
  EXPECT_EQ(jsonInt(json(7), "n"), 7);
  EXPECT_EQ(jsonInt(json(-3), "n"), -3);
  EXPECT_EQ(jsonInt(json(2147483647), "n"), 2147483647);
  auto error = [](const json& v, long long min = INT_MIN, long long max = INT_MAX) {
    try {
      jsonInt(v, "image_index", min, max);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // 2^32 + 1 and 2^63 would wrap to 1 and 0 through get<int>().
  EXPECT_EQ(error(json::parse("4294967297")), "'image_index' is 4294967297, out of range (-2147483648 to 2147483647)");
  EXPECT_EQ(error(json::parse("9223372036854775808"), 0),
            "'image_index' is 9223372036854775808, out of range (0 to 2147483647)");
  EXPECT_EQ(error(json::parse("-9223372036854775808"), 0),
            "'image_index' is -9223372036854775808, out of range (0 to 2147483647)");
  EXPECT_EQ(error(json(-1), 0), "'image_index' is -1, out of range (0 to 2147483647)");
  EXPECT_EQ(error(json(1.5)), "'image_index' is not an integer (1.5)");
  EXPECT_EQ(error(json("3")), "'image_index' is not an integer (a string)");
  EXPECT_EQ(error(json::array()), "'image_index' is not an integer (an array)");
  EXPECT_EQ(jsonIntIfFits(json::parse("4294967297")), std::nullopt);
  EXPECT_EQ(jsonIntIfFits(json::parse("18446744073709551615")), std::nullopt);
  EXPECT_EQ(jsonIntIfFits(json(2.0)), std::nullopt);
  EXPECT_EQ(jsonIntIfFits(json(-5)), -5);
}

TEST(Program, HugeInputsAndDependenciesAreErrorsNotWrappedIndices) {
  for (const char* huge : {"4294967297", "9223372036854775808"}) {
    const std::string text =
        std::string(R"J([{"function":"scene","inputs":[]},{"function":"count","inputs":[)J") + huge + "]}]";
    try {
      parseProgram(json::parse(text));
      FAIL() << huge << " was read as a step index";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()),
                std::string("step 1: 'inputs' is ") + huge + ", out of range (-2147483648 to 2147483647)");
    }
    const std::string gqa = std::string(R"J([{"operation":"select","argument":"a (1)","dependencies":[]},
        {"operation":"exist","argument":"?","dependencies":[)J") + huge + "]}]";
    try {
      parseGqaProgram(json::parse(gqa));
      FAIL() << huge << " was read as a dependency";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()),
                std::string("step 1: 'dependencies' is ") + huge + ", out of range (0 to 2147483647)");
    }
  }
  EXPECT_THROW(parseGqaProgram(json::parse(R"J([{"operation":"exist","argument":"?","dependencies":[-1]}])J")),
               std::runtime_error);
}

TEST(Program, AProgramMustEndInItsAnswer) {
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"filter_color","inputs":[0],"value_inputs":["red"]}])J"),
            "step 1: the last step 'filter_color' gives ObjectSet, not an answer (a program ends with exist, count, "
            "query_*, equal_*, less_than, greater_than or equal_object)");
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"unique","inputs":[0]}])J").substr(0, 51),
            "step 1: the last step 'unique' gives Object, not an");
  EXPECT_EQ(validationError(R"J([{"function":"scene","inputs":[]},{"function":"exist","inputs":[0]}])J"), "");
}

TEST(Errors, QuotedValuesAreShortAndOnOneLine) {
  EXPECT_EQ(quotedValue("red"), "'red'");
  EXPECT_EQ(excerpt("a\nb\tc\x01"), "a\\nb\\tc\\x01");
  const std::string huge(10'000'000, 'x');
  EXPECT_EQ(quotedValue(huge), "'" + std::string(60, 'x') + "...'");
  // A cut never splits a UTF-8 character.
  std::string accents;
  for (int i = 0; i < 40; ++i) accents += "\xc3\xa9";
  EXPECT_EQ(excerpt(accents).size(), 60u + 3u);
  try {
    json step = json::object();
    step["function"] = huge;
    step["inputs"] = json::array();
    validateProgram(parseProgram(json::array({step})));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_LT(std::string(e.what()).size(), 100u);
  }
}

TEST(TypedProgram, ResolvesEveryNodeOnceIntoIndices) {
  const TypedProgram t = resolveProgram(parseProgram(releasedProgram()));
  ASSERT_EQ(t.size(), 4);
  EXPECT_EQ(t.nodes[0].op, Op::Scene);
  EXPECT_EQ(t.nodes[1].op, Op::Filter);
  EXPECT_EQ(t.nodes[1].attribute, clevr::Attribute::Size);
  EXPECT_EQ(t.nodes[1].value, 1);  // large
  EXPECT_EQ(t.nodes[2].op, Op::Unique);
  EXPECT_EQ(t.nodes[3].op, Op::Query);
  EXPECT_EQ(t.nodes[3].attribute, clevr::Attribute::Color);
  EXPECT_EQ(t.nodes[3].inputs, std::vector<int>{2});
  EXPECT_EQ(programToJson(toProgram(t)), programToJson(parseProgram(releasedProgram())));
  // What cannot be resolved is kept, with its reason, for the executor to report at that step.
  const TypedProgram bad = resolveProgram(parseProgram(json::parse(R"J([
    {"inputs": [], "function": "scene"}, {"inputs": [0], "function": "frobnicate"},
    {"inputs": [0], "function": "filter_unique", "side_inputs": ["large", "red", "metal", "cube"]},
    {"inputs": [0], "function": "relate"}, {"inputs": [0], "function": "filter_color", "value_inputs": ["pink"]}])J")));
  EXPECT_EQ(bad.nodes[1].op, Op::Invalid);
  EXPECT_EQ(bad.nodes[1].error, "unknown function 'frobnicate'");
  EXPECT_EQ(bad.nodes[2].error, "'filter_unique' is a template-only function");
  EXPECT_EQ(bad.nodes[3].error, "'relate' needs a value input");
  EXPECT_EQ(bad.nodes[4].op, Op::Filter);
  EXPECT_EQ(bad.nodes[4].value, -1);
}

TEST(ProgramTokens, VocabularyHasEveryFunctionValueToken) {
  const auto& tokens = programTokens();
  EXPECT_EQ(numProgramTokens(), 44);  // 3 special + scene + 15 filters + 4 relates + 5 + 4 x 3 + 4
  EXPECT_EQ(tokens[kPadToken].text, "<pad>");
  EXPECT_EQ(tokens[kEndToken].text, "<end>");
  for (const char* text : {"scene", "filter_color[red]", "filter_shape[cylinder]", "filter_material[rubber]",
                           "filter_size[small]", "relate[left]", "relate[front]", "same_shape", "query_size",
                           "count", "exist", "equal_integer", "less_than", "greater_than", "equal_color",
                           "equal_object", "union", "intersect", "unique"}) {
    const int id = programTokenIndex(text);
    ASSERT_GE(id, 0) << text;
    EXPECT_EQ(tokens[static_cast<size_t>(id)].text, text);
    EXPECT_EQ(tokenOf(tokens[static_cast<size_t>(id)].node), id) << text;
  }
  EXPECT_EQ(programTokenIndex("filter_color[pink]"), -1);
  EXPECT_EQ(tokens[static_cast<size_t>(programTokenIndex("union"))].arity, 2);
  EXPECT_EQ(tokens[static_cast<size_t>(programTokenIndex("scene"))].arity, 0);
  EXPECT_EQ(tokens[static_cast<size_t>(programTokenIndex("relate[behind]"))].signature->output, ValueType::ObjectSet);
}

TEST(ProgramTokens, PostfixRoundTripsAndRefusesBadSequences) {
  // equal_size(query_size(unique(filter_color[red](scene))), query_size(unique(relate[left](unique(scene)))))
  const Program p = parseProgram(json::parse(R"J([
    {"inputs": [], "function": "scene"}, {"inputs": [0], "function": "filter_color", "value_inputs": ["red"]},
    {"inputs": [1], "function": "unique"}, {"inputs": [2], "function": "query_size"},
    {"inputs": [], "function": "scene"}, {"inputs": [4], "function": "unique"},
    {"inputs": [5], "function": "relate", "value_inputs": ["left"]}, {"inputs": [6], "function": "unique"},
    {"inputs": [7], "function": "query_size"}, {"inputs": [3, 8], "function": "equal_size"}])J"));
  validateProgram(p);
  std::vector<int> nodes;
  const std::vector<int> postfix = toPostfix(resolveProgram(p), &nodes);
  EXPECT_EQ(tokensToString(postfix),
            "scene filter_color[red] unique query_size scene unique relate[left] unique query_size equal_size");
  EXPECT_EQ(nodes, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const TypedProgram back = fromPostfix(postfix);
  EXPECT_EQ(programToJson(toProgram(back)), programToJson(p));
  std::vector<int> framed{kStartToken};
  framed.insert(framed.end(), postfix.begin(), postfix.end());
  framed.push_back(kEndToken);
  framed.push_back(kPadToken);
  EXPECT_EQ(toPostfix(fromPostfix(framed)), postfix);

  auto error = [](std::vector<int> tokens) {
    try {
      fromPostfix(tokens);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const int scene = programTokenIndex("scene"), count = programTokenIndex("count");
  const int unique = programTokenIndex("unique"), less = programTokenIndex("less_than");
  EXPECT_EQ(error({count}), "token 0: 'count' needs 1 inputs, 0 available");
  EXPECT_EQ(error({scene, scene}), "token 2: the sequence leaves 2 results, not 1");
  EXPECT_EQ(error({scene, unique, count}), "token 2: 'count' input 0 must be ObjectSet, got Object");
  EXPECT_EQ(error({scene, count, scene, less}), "token 3: 'less_than' input 1 must be Integer, got ObjectSet");
  EXPECT_EQ(error({scene, 999}), "token 1: unknown token id 999");
  EXPECT_EQ(error({}), "token 0: the sequence leaves 0 results, not 1");
  // A value outside the vocabulary has no token.
  EXPECT_THROW(toPostfix(resolveProgram(parseProgram(json::parse(
                   R"J([{"inputs": [], "function": "scene"},
                        {"inputs": [0], "function": "filter_color", "value_inputs": ["pink"]},
                        {"inputs": [1], "function": "count"}])J")))),
               std::runtime_error);
}

TEST(ProgramTokens, TypeCheckedDecodingKnowsWhatMayComeNext) {
  const int scene = programTokenIndex("scene"), unique = programTokenIndex("unique");
  const int count = programTokenIndex("count"), less = programTokenIndex("less_than");
  const int query = programTokenIndex("query_color"), equal = programTokenIndex("equal_color");
  EXPECT_TRUE(postfixStackTypes({}).empty());
  EXPECT_TRUE(tokenFits({}, scene));
  EXPECT_FALSE(tokenFits({}, count));
  EXPECT_FALSE(tokenFits({}, kEndToken));
  EXPECT_FALSE(tokenFits({}, kPadToken));
  const auto set = postfixStackTypes({kStartToken, scene});
  EXPECT_EQ(set, std::vector<ValueType>{ValueType::ObjectSet});
  EXPECT_TRUE(tokenFits(set, count));
  EXPECT_TRUE(tokenFits(set, unique));
  EXPECT_FALSE(tokenFits(set, query));      // needs an Object
  EXPECT_FALSE(tokenFits(set, kEndToken));  // a set is no answer
  const auto two = postfixStackTypes({scene, count, scene, count});
  EXPECT_TRUE(tokenFits(two, less));
  EXPECT_FALSE(tokenFits(two, kEndToken));
  EXPECT_FALSE(tokenFits(postfixStackTypes({scene, unique, query, scene, count}), equal));  // Color then Integer
  EXPECT_TRUE(tokenFits(postfixStackTypes({scene, count, scene, count, less}), kEndToken));
  EXPECT_THROW(postfixStackTypes({scene, query}), std::runtime_error);
  // A decoder that only emits fitting tokens produces sequences fromPostfix accepts.
  std::vector<int> greedy;
  for (int step = 0; step < 8; ++step) {
    const auto stack = postfixStackTypes(greedy);
    int next = -1;
    for (int id : step < 5 ? std::vector<int>{less, count, scene} : std::vector<int>{kEndToken})
      if (next < 0 && tokenFits(stack, id)) next = id;
    ASSERT_GE(next, 0);
    greedy.push_back(next);
    if (next == kEndToken) break;
  }
  EXPECT_EQ(tokensToString(greedy), "scene count scene count less_than <end>");
  EXPECT_NO_THROW(fromPostfix(greedy));
}
