// Tests for the differentiable executor: on one-hot scenes and programs its answers and per-step results equal
// the symbolic executor's (real CLEVR questions and random typed programs over real scenes), the answer is
// differentiable with respect to the tokens and the scene, a soft token gives the mixture of its modules'
// results, and edge cases (empty selections, ten objects, padding slots) stay exact and finite.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <random>

#include "datasets/clevr/clevr_io.h"
#include "executor/soft_executor.h"
#include "executor/symbolic_executor.h"
#include "test_support.h"

using namespace vqa;

namespace {

const std::string kData = std::string(VQA_TEST_SOURCE_DIR) + "/executor/data";

int token(const std::string& text) {
  const int id = programTokenIndex(text);
  if (id < 0) throw std::runtime_error("no token " + text);
  return id;
}

std::vector<int> tokens(std::initializer_list<const char*> texts) {
  std::vector<int> out;
  for (const char* t : texts) out.push_back(token(t));
  return out;
}

// Compares one soft step result with the symbolic step value; returns "" when they agree.
std::string stepDifference(const Value& expected, const at::Tensor& mass, const at::Tensor& answer, int objects) {
  const int64_t N = mass.size(0);
  std::vector<float> want_mass(static_cast<size_t>(N), 0.0f), want_answer(clevr::kNumAnswers, 0.0f);
  switch (expected.kind) {
    case Value::Kind::ObjectSet:
    case Value::Kind::Object:
      for (int o : expected.objects) want_mass[static_cast<size_t>(o)] = 1.0f;
      break;
    default:
      want_answer[static_cast<size_t>(clevr::answerIndex(expected.answer()))] = 1.0f;
  }
  auto m = mass.accessor<float, 1>();
  auto a = answer.accessor<float, 1>();
  for (int64_t i = 0; i < N; ++i) {
    if (i >= objects && m[i] != 0.0f) return "padding slot " + std::to_string(i) + " has mass " + std::to_string(m[i]);
    if (std::abs(m[i] - want_mass[static_cast<size_t>(i)]) > 1e-5f)
      return "object " + std::to_string(i) + " mass " + std::to_string(m[i]);
  }
  for (int64_t k = 0; k < clevr::kNumAnswers; ++k)
    if (std::abs(a[k] - want_answer[static_cast<size_t>(k)]) > 1e-5f)
      return "answer " + clevr::answers()[static_cast<size_t>(k)] + " probability " + std::to_string(a[k]);
  return "";
}

struct Case {
  TypedProgram program;
  const SceneGraph* scene;
  std::string gold;  // empty: compare with the symbolic answer only
  std::string label;
};

// Runs every case both ways (one batch for the soft executor) and checks answers and every step.
// Returns how many cases ran symbolically (the others are skipped: the symbolic executor refuses them).
int expectSoftMatchesSymbolic(const std::vector<Case>& cases) {
  std::vector<std::vector<int>> programs;
  std::vector<std::vector<int>> node_of_position;
  std::vector<SceneGraph> scenes;
  std::vector<ExecutionResult> symbolic;
  std::vector<const Case*> kept;
  for (const Case& c : cases) {
    ExecutionResult r = ClevrExecutor().run(c.program, *c.scene);
    if (!r.ok) continue;
    std::vector<int> nodes;
    programs.push_back(toPostfix(c.program, &nodes));
    node_of_position.push_back(nodes);
    scenes.push_back(*c.scene);
    symbolic.push_back(std::move(r));
    kept.push_back(&c);
  }
  if (kept.empty()) return 0;
  const SoftScene scene = SoftScene::fromSceneGraph(scenes);
  const SoftExecution soft = SoftExecutor().run(oneHotTokens(programs), scene);
  const at::Tensor best = soft.answer.argmax(1);
  for (size_t b = 0; b < kept.size(); ++b) {
    const auto row = static_cast<int64_t>(b);
    const std::string& answer = clevr::answers()[static_cast<size_t>(best[row].item<int64_t>())];
    EXPECT_EQ(answer, symbolic[b].answer) << kept[b]->label << ": " << tokensToString(programs[b]);
    if (!kept[b]->gold.empty()) {
      EXPECT_EQ(answer, kept[b]->gold) << kept[b]->label;
    }
    EXPECT_NEAR(soft.answer[row].sum().item<float>(), 1.0f, 1e-5f) << kept[b]->label;
    for (size_t t = 0; t < programs[b].size(); ++t) {
      const auto step = static_cast<int64_t>(t);
      const std::string diff =
          stepDifference(symbolic[b].outputs[static_cast<size_t>(node_of_position[b][t])], soft.step_masses[row][step],
                         soft.step_answers[row][step], scenes[b].size());
      EXPECT_EQ(diff, "") << kept[b]->label << " step " << t << " ("
                          << programTokens()[static_cast<size_t>(programs[b][t])].text << ")";
    }
  }
  return static_cast<int>(kept.size());
}

// Random well-typed programs over a scene, covering every token: object references are built from an
// object's own attributes (so `unique` usually holds), sets from filters, relations, same_*, union and
// intersect.
class ProgramSampler {
 public:
  explicit ProgramSampler(unsigned seed) : rng_(seed) {}

  TypedProgram sample(const SceneGraph& scene) {
    scene_ = &scene;
    program_ = TypedProgram();
    switch (pick(7)) {
      case 0:
        add(Op::Exist, {set(2)});
        break;
      case 1:
        add(Op::Count, {set(2)});
        break;
      case 2:
        add(pickOf({Op::EqualInteger, Op::LessThan, Op::GreaterThan}), {count(), count()});
        break;
      case 3: {
        const auto a = attribute();
        add(Op::Query, {object(2)}, a);
        break;
      }
      case 4: {
        const auto a = attribute();
        const int first = add(Op::Query, {object(1)}, a);
        add(Op::EqualAttribute, {first, add(Op::Query, {object(1)}, a)}, a);
        break;
      }
      case 5:
        add(Op::EqualObject, {object(1), object(1)});
        break;
      default:
        add(Op::Exist, {set(3)});
        break;
    }
    return program_;
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  Op pickOf(std::initializer_list<Op> ops) { return *(ops.begin() + pick(static_cast<int>(ops.size()))); }
  clevr::Attribute attribute() { return clevr::attributes()[static_cast<size_t>(pick(clevr::kNumAttributes))]; }

  int add(Op op, std::vector<int> inputs, clevr::Attribute a = clevr::Attribute::Color, int value = -1,
          int relation = -1) {
    TypedNode n;
    n.op = op;
    n.inputs = std::move(inputs);
    n.attribute = a;
    n.value = value;
    n.relation = relation;
    n.function = "sampled";
    program_.nodes.push_back(n);
    return program_.size() - 1;
  }

  int count() { return add(Op::Count, {set(1)}); }

  // An object: its attributes as filters on the scene, in a random order, then unique.
  int object(int depth) {
    const SceneObject& o = scene_->object(pick(scene_->size()));
    int current = depth > 0 && pick(3) == 0 ? set(depth - 1) : add(Op::Scene, {});
    std::vector<clevr::Attribute> order = clevr::attributes();
    std::shuffle(order.begin(), order.end(), rng_);
    for (clevr::Attribute a : order)
      current = add(Op::Filter, {current}, a, clevr::valueIndex(a, o.attributes.at(clevr::attributeName(a))));
    return add(Op::Unique, {current});
  }

  int set(int depth) {
    const int choice = depth > 0 ? pick(6) : pick(2);
    switch (choice) {
      case 0:
        return add(Op::Scene, {});
      case 1: {
        const auto a = attribute();
        const int values = static_cast<int>(clevr::attributeValues(a).size());
        return add(Op::Filter, {depth > 0 ? set(depth - 1) : add(Op::Scene, {})}, a, pick(values));
      }
      case 2:
        return add(Op::Relate, {object(depth - 1)}, clevr::Attribute::Color, -1,
                   pick(static_cast<int>(clevr::relations().size())));
      case 3: {
        const auto a = attribute();
        return add(Op::Same, {object(depth - 1)}, a);
      }
      default: {
        const int first = set(depth - 1);
        return add(choice == 4 ? Op::Union : Op::Intersect, {first, set(depth - 1)});
      }
    }
  }

  std::mt19937 rng_;
  const SceneGraph* scene_ = nullptr;
  TypedProgram program_;
};

at::Tensor answerOf(const char* word) {
  at::Tensor one_hot = at::zeros({clevr::kNumAnswers});
  one_hot[clevr::answerIndex(word)] = 1.0f;
  return one_hot;
}

}  // namespace

TEST(SoftExecutor, RealQuestionsMatchTheSymbolicExecutorStepByStep) {
  VQA_REQUIRE_SHARED(shared);
  const std::string base = shared + "/data/clevr-real/";
  const auto trainScenes = readClevrScenes(base + "scenes/CLEVR_train_scenes_first1000.json");
  const auto valScenes = readClevrScenes(base + "scenes/CLEVR_val_scenes_first500.json");
  const auto trainQuestions = readClevrQuestions(base + "questions/CLEVR_train_questions_q0-39.json");
  const auto valQuestions = readClevrQuestions(base + "questions/CLEVR_val_questions_img0_7q.json");
  std::vector<Case> cases;
  for (auto [questions, scenes] : {std::pair{&trainQuestions, &trainScenes}, std::pair{&valQuestions, &valScenes}})
    for (const auto& q : questions->questions)
      cases.push_back(
          {resolveProgram(q.program), &scenes->scenes.at(static_cast<size_t>(q.image_index)), q.answer, q.question});
  EXPECT_EQ(expectSoftMatchesSymbolic(cases), 47);
}

// 10,000 validation questions generated with CLEVR's own templates (1,000 scenes, every family): the soft
// executor on one-hot scenes and programs gives every answer and every step of the symbolic executor.
TEST(SoftExecutor, TenThousandGeneratedQuestionsMatchStepByStep) {
  VQA_REQUIRE_SHARED(shared);
  const std::string dir = vqa::testing::scratchDir();
  const auto r = vqa::testing::runVqa("generate --out " + dir + " --images 1000 --split val --seed 12 --no-images "
                                      "--questions-per-image 10 --threads 2 --templates " + shared +
                                      "/data/clevr-gen/question_generation/CLEVR_1.0_templates");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto scenes = readClevrScenes(dir + "/scenes/CLEVR_val_scenes.json");
  const auto questions = readClevrQuestions(dir + "/questions/CLEVR_val_questions.json");
  ASSERT_EQ(questions.questions.size(), 10000u);
  int ran = 0;
  std::vector<Case> cases;
  for (size_t i = 0; i < questions.questions.size(); ++i) {
    const auto& q = questions.questions[i];
    cases.push_back({resolveProgram(q.program), &scenes.scenes.at(static_cast<size_t>(q.image_index)), q.answer,
                     "generated question " + std::to_string(i) + ": " + q.question});
    if (cases.size() == 1000 || i + 1 == questions.questions.size()) {  // batches of 1,000
      ran += expectSoftMatchesSymbolic(cases);
      cases.clear();
    }
  }
  EXPECT_EQ(ran, 10000);  // the symbolic executor runs every generated question
}

TEST(SoftExecutor, ClosureStyleQuestionsMatchStepByStep) {
  const auto scenes = readClevrScenes(kData + "/closure_style_scenes.json");
  const auto questions = readClevrQuestions(kData + "/closure_style_questions.json");
  std::vector<Case> cases;
  for (const auto& q : questions.questions)
    cases.push_back(
        {resolveProgram(q.program), &scenes.scenes.at(static_cast<size_t>(q.image_index)), q.answer, q.question});
  EXPECT_EQ(expectSoftMatchesSymbolic(cases), 10);
}

TEST(SoftExecutor, RandomProgramsOverRealScenesMatchStepByStep) {
  VQA_REQUIRE_SHARED(shared);
  const auto scenes = readClevrScenes(shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json");
  ProgramSampler sampler(7);
  std::vector<Case> cases;
  std::vector<int> tokens_seen(static_cast<size_t>(numProgramTokens()), 0);
  for (int k = 0; k < 1500; ++k) {
    const SceneGraph& scene = scenes.scenes[static_cast<size_t>(k) % scenes.scenes.size()];
    cases.push_back({sampler.sample(scene), &scene, "", "random program " + std::to_string(k)});
    for (const TypedNode& n : cases.back().program.nodes) ++tokens_seen[static_cast<size_t>(tokenOf(n))];
  }
  const int ran = expectSoftMatchesSymbolic(cases);
  EXPECT_GT(ran, 1000);
  for (int id = kEndToken + 1; id < numProgramTokens(); ++id)
    EXPECT_GT(tokens_seen[static_cast<size_t>(id)], 0) << programTokens()[static_cast<size_t>(id)].text;
}

TEST(SoftExecutor, AnswerIsDifferentiableInTokensAndScene) {
  at::manual_seed(3);
  const int64_t B = 2, N = 4;
  auto make = [&] {
    std::vector<at::Tensor> leaves;
    leaves.push_back(at::sigmoid(at::randn({B, N}, at::kDouble) + 1.0));  // mask
    for (clevr::Attribute a : clevr::attributes())
      leaves.push_back(
          at::softmax(at::randn({B, N, static_cast<int64_t>(clevr::attributeValues(a).size())}, at::kDouble), 2));
    leaves.push_back(at::sigmoid(at::randn({B, 4, N, N}, at::kDouble)));  // relations
    return leaves;
  };
  std::vector<at::Tensor> leaves = make();
  // Two programs made soft: 0.8 of the discrete program plus 0.2 of a random token distribution per step.
  const at::Tensor hard =
      oneHotTokens({tokens({"scene", "filter_color[red]", "unique", "relate[left]", "filter_size[large]", "count",
                            "scene", "filter_shape[cube]", "count", "greater_than"}),
                    tokens({"scene", "filter_material[metal]", "unique", "same_shape", "unique", "query_color"})},
                   0, at::kDouble);
  leaves.push_back(0.8 * hard + 0.2 * at::softmax(at::randn(hard.sizes(), at::kDouble), 2));  // tokens
  for (auto& l : leaves) l = l.detach().set_requires_grad(true);

  const SoftExecutor executor;
  auto answer = [&](const std::vector<at::Tensor>& x) {
    SoftScene scene;
    scene.mask = x[0];
    scene.attributes = {x[1], x[2], x[3], x[4]};
    scene.relations = x[5];
    scene.positions = at::zeros({B, N, 3}, at::kDouble);
    return executor.run(x[6], scene).answer;
  };
  const at::Tensor out = answer(leaves);
  EXPECT_TRUE(at::isfinite(out).all().item<bool>());
  const at::Tensor upstream = at::randn(out.sizes(), out.options());
  const auto grads = torch::autograd::grad({(out * upstream).sum()}, leaves);
  const char* names[] = {"mask", "color", "shape", "material", "size", "relations", "tokens"};
  std::mt19937 rng(5);
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < leaves.size(); ++i) {
    ASSERT_TRUE(grads[i].defined()) << names[i];
    EXPECT_TRUE(at::isfinite(grads[i]).all().item<bool>()) << names[i];
    EXPECT_GT(grads[i].abs().sum().item<double>(), 0.0) << names[i] << " gets no gradient";
    // Central differences on up to 12 entries of each input.
    at::Tensor flat = leaves[i].view({-1});
    const at::Tensor analytic = grads[i].reshape({-1});
    for (int s = 0; s < 12; ++s) {
      const int64_t j = std::uniform_int_distribution<int64_t>(0, flat.numel() - 1)(rng);
      const double saved = flat[j].item<double>(), eps = 1e-6;
      flat[j] = saved + eps;
      const double plus = (answer(leaves) * upstream).sum().item<double>();
      flat[j] = saved - eps;
      const double minus = (answer(leaves) * upstream).sum().item<double>();
      flat[j] = saved;
      EXPECT_NEAR((plus - minus) / (2 * eps), analytic[j].item<double>(), 1e-5) << names[i] << " entry " << j;
    }
  }
}

TEST(SoftExecutor, ASoftTokenGivesTheMixtureOfItsModules) {
  const auto scenes = readClevrScenes(kData + "/closure_style_scenes.json");
  const SoftScene scene = SoftScene::fromSceneGraph({scenes.scenes[0]});
  const SoftExecutor executor;
  auto run = [&](const at::Tensor& t) { return executor.run(t, scene); };
  const at::Tensor red = oneHotTokens({tokens({"scene", "filter_color[red]", "count"})});
  const at::Tensor blue = oneHotTokens({tokens({"scene", "filter_color[blue]", "count"})});
  const at::Tensor mixed = 0.3 * red + 0.7 * blue;
  const SoftExecution r = run(red), b = run(blue), m = run(mixed);
  EXPECT_TRUE(
      at::allclose(m.step_masses.select(1, 1), 0.3 * r.step_masses.select(1, 1) + 0.7 * b.step_masses.select(1, 1)));
  // The last step's result is a count distribution of the mixed mass, not a mixture of counts; the mixed last
  // token below is.
  const at::Tensor color = oneHotTokens({tokens({"scene", "filter_shape[cube]", "unique", "query_color"})});
  const at::Tensor shape = oneHotTokens({tokens({"scene", "filter_shape[cube]", "unique", "query_material"})});
  const SoftExecution c = run(color), s = run(shape), cs = run(0.4 * color + 0.6 * shape);
  EXPECT_TRUE(at::allclose(cs.answer, 0.4 * c.answer + 0.6 * s.answer));
  EXPECT_TRUE(at::allclose(cs.step_answers.select(1, 3), cs.answer));
  EXPECT_NEAR(cs.answer.sum().item<float>(), 1.0f, 1e-6f);
}

TEST(SoftExecutor, EmptySelectionRetrievesNothingAndStaysFinite) {
  const auto scenes = readClevrScenes(kData + "/closure_style_scenes.json");
  const SoftScene scene = SoftScene::fromSceneGraph({scenes.scenes[0]}, 10);
  // No green object in scene 0: unique retrieves nothing, query answers nothing, nothing is NaN.
  const SoftExecution r = SoftExecutor().run(oneHotTokens({
                                                 tokens({"scene", "filter_color[green]", "unique", "query_shape"}),
                                             }),
                                             scene);
  EXPECT_TRUE(at::isfinite(r.answer).all().item<bool>());
  EXPECT_LT(r.answer.sum().item<float>(), 1e-6f);
  EXPECT_LT(r.step_masses[0][2].sum().item<float>(), 1e-6f);
  // Plain softmax would average over the objects instead; Softmax_1 is what makes "nothing" expressible.
  SoftExecutorOptions softmax;
  softmax.association.kind = hopfield::AttentionKind::Softmax;
  const SoftExecution s = SoftExecutor(softmax).run(
      oneHotTokens({tokens({"scene", "filter_color[green]", "unique", "query_shape"})}), scene);
  EXPECT_NEAR(s.answer.sum().item<float>(), 1.0f, 1e-5f);
  // Gradients through an empty selection are finite too.
  at::Tensor mask = scene.mask.clone().set_requires_grad(true);
  SoftScene soft = scene;
  soft.mask = mask;
  const at::Tensor answer =
      SoftExecutor()
          .run(oneHotTokens({tokens({"scene", "filter_color[green]", "unique", "query_shape"})}), soft)
          .answer;
  const auto grad = torch::autograd::grad({answer.sum()}, {mask});
  EXPECT_TRUE(at::isfinite(grad[0]).all().item<bool>());
}

TEST(SoftExecutor, CountsTenObjectsAndNeverCountsPadding) {
  // Ten objects (the most CLEVR has) in 12 slots, and three objects in 10 slots.
  SceneGraph ten, three;
  for (int i = 0; i < 10; ++i) {
    SceneObject o;
    o.attributes = {{"color", i < 3 ? "red" : "blue"}, {"shape", "cube"}, {"material", "metal"}, {"size", "large"}};
    ten.addObject(o);
    if (i < 3) three.addObject(o);
  }
  const SoftScene scene = SoftScene::fromSceneGraph({ten, three}, 12);
  const SoftExecution r =
      SoftExecutor().run(oneHotTokens({tokens({"scene", "count"}), tokens({"scene", "count"})}), scene);
  EXPECT_TRUE(at::equal(r.answer[0], answerOf("10")));
  EXPECT_TRUE(at::equal(r.answer[1], answerOf("3")));
  // same_* and filter never reach a padding slot.
  const SoftExecution same =
      SoftExecutor().run(oneHotTokens({tokens({"scene", "filter_shape[cube]", "count"}),
                                       tokens({"scene", "filter_color[red]", "filter_size[large]", "filter_shape[cube]",
                                               "filter_material[metal]", "exist"})}),
                         scene);
  EXPECT_TRUE(at::equal(same.answer[0], answerOf("10")));
  EXPECT_TRUE(at::equal(same.answer[1], answerOf("yes")));
  EXPECT_EQ(same.step_masses[1].narrow(1, 3, 9).abs().sum().item<float>(), 0.0f);
}

TEST(SoftExecutor, CountDistributionIsThePoissonBinomial) {
  at::manual_seed(1);
  const at::Tensor mass = at::rand({3, 6}, at::kDouble);
  const at::Tensor dp = SoftExecutor::countDistribution(mass);
  for (int64_t b = 0; b < 3; ++b) {
    std::vector<double> brute(11, 0.0);
    for (int subset = 0; subset < (1 << 6); ++subset) {
      double p = 1.0;
      for (int i = 0; i < 6; ++i) {
        const double m = mass[b][i].item<double>();
        p *= (subset >> i & 1) ? m : 1.0 - m;
      }
      brute[static_cast<size_t>(__builtin_popcount(static_cast<unsigned>(subset)))] += p;
    }
    for (int64_t k = 0; k <= 10; ++k) EXPECT_NEAR(dp[b][k].item<double>(), brute[static_cast<size_t>(k)], 1e-12);
  }
}

TEST(SoftExecutor, PadTokensLeaveTheStackAlone) {
  const auto scenes = readClevrScenes(kData + "/closure_style_scenes.json");
  const SoftScene scene = SoftScene::fromSceneGraph({scenes.scenes[0], scenes.scenes[0]});
  const SoftExecution r = SoftExecutor().run(
      oneHotTokens({tokens({"scene", "count"}), tokens({"<start>", "scene", "<pad>", "count", "<end>", "<pad>"})}),
      scene);
  EXPECT_TRUE(at::equal(r.answer[0], r.answer[1]));
  EXPECT_THROW(SoftExecutor().run(oneHotTokens({tokens({"scene", "count"})}), scene), std::invalid_argument);
  EXPECT_THROW(oneHotTokens({{0, 999}}), std::invalid_argument);
}
