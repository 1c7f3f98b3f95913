// SoftScene: one-hot scenes from symbolic ones and CLEVR's relation rule in soft form, checked against the
// relationships lists of real CLEVR scene files.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <set>

#include "core/vocab.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/json_file.h"
#include "executor/soft_scene.h"
#include "test_support.h"

using vqa::SoftScene;

namespace {
std::string realValScenes(const std::string& shared) {
  return shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json";
}
}  // namespace

TEST(SoftScene, OneHotSceneMatchesTheRealSceneFile) {
  VQA_REQUIRE_SHARED(shared);
  const std::string path = realValScenes(shared);
  const auto scenes = vqa::readClevrScenes(path).scenes;
  const nlohmann::json raw = vqa::readJsonFile(path)["scenes"];
  std::vector<vqa::SceneGraph> batch(scenes.begin(), scenes.begin() + 40);
  SoftScene s = SoftScene::fromSceneGraph(batch, 12);
  s.checkShapes();
  ASSERT_EQ(s.batchSize(), 40);
  ASSERT_EQ(s.numSlots(), 12);
  for (int64_t b = 0; b < 40; ++b) {
    const auto& objects = raw[static_cast<size_t>(b)]["objects"];
    const int64_t n = static_cast<int64_t>(objects.size());
    EXPECT_EQ(s.mask[b].sum().item<float>(), static_cast<float>(n));
    EXPECT_EQ(s.mask[b].slice(0, 0, n).min().item<float>(), 1.0f);
    for (auto a : vqa::clevr::attributes()) {
      const at::Tensor& t = s.attribute(a)[b];
      EXPECT_EQ(t.sum().item<float>(), static_cast<float>(n));  // one-hot rows, zero padding
      for (int64_t i = 0; i < n; ++i) {
        const std::string value = objects[static_cast<size_t>(i)][vqa::clevr::attributeName(a)];
        EXPECT_EQ(t[i][vqa::clevr::valueIndex(a, value)].item<float>(), 1.0f) << "scene " << b << " object " << i;
      }
    }
    for (int64_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k)
        EXPECT_FLOAT_EQ(s.positions[b][i][k].item<float>(), objects[static_cast<size_t>(i)]["3d_coords"][static_cast<size_t>(k)].get<float>());
    // rel[b, r, i, j] == 1 exactly when j is in relationships[r][i].
    const auto& rels = raw[static_cast<size_t>(b)]["relationships"];
    int64_t r = 0;
    for (const auto& name : vqa::clevr::relations()) {
      for (int64_t i = 0; i < 12; ++i) {
        std::set<int64_t> expected;
        if (i < n)
          for (const auto& j : rels[name][static_cast<size_t>(i)]) expected.insert(j.get<int64_t>());
        for (int64_t j = 0; j < 12; ++j)
          ASSERT_EQ(s.relations[b][r][i][j].item<float>(), expected.count(j) ? 1.0f : 0.0f)
              << "scene " << b << " " << name << " i " << i << " j " << j;
      }
      ++r;
    }
  }
}

TEST(SoftScene, SoftRelationsFromTruePositionsReproduceTheRelationshipLists) {
  VQA_REQUIRE_SHARED(shared);
  for (const char* file : {"CLEVR_val_scenes_first500.json", "CLEVR_train_scenes_first1000.json"}) {
    const auto scenes = vqa::readClevrScenes(shared + "/data/clevr-real/scenes/" + file).scenes;
    SoftScene s = SoftScene::fromSceneGraph(scenes, 10);
    std::vector<at::Tensor> directions;
    for (const auto& scene : scenes) directions.push_back(vqa::relationDirections(scene));
    at::Tensor soft = vqa::softRelations(s.positions, at::stack(directions), s.mask, 0.2, 50.0);
    // Hard decisions agree everywhere; the soft values sit close to 0 or 1 away from the threshold.
    EXPECT_TRUE(at::equal((soft > 0.5).to(at::kFloat), s.relations)) << file;
    EXPECT_GT(soft.sum().item<double>(), 0.9 * s.relations.sum().item<double>());
  }
}

TEST(SoftScene, SoftRelationsAreDifferentiableAndMasked) {
  at::Tensor positions = at::tensor({0.0f, 0.0f, 0.35f, 1.0f, 0.0f, 0.35f, -2.0f, 1.0f, 0.7f}).view({1, 3, 3});
  positions.set_requires_grad(true);
  at::Tensor directions = at::tensor({-1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, -1.0f, 0.0f}).view({4, 3});
  at::Tensor mask = at::tensor({1.0f, 1.0f, 0.0f}).view({1, 3});
  at::Tensor rel = vqa::softRelations(positions, directions, mask);
  EXPECT_GT(rel[0][1][0][1].item<float>(), 0.99f);  // object 1 is right of object 0
  EXPECT_LT(rel[0][0][0][1].item<float>(), 0.01f);  // and not left of it
  EXPECT_EQ(rel[0][1][0][0].item<float>(), 0.0f);   // never related to itself
  EXPECT_EQ(rel.select(3, 2).abs().sum().item<float>(), 0.0f);  // masked slot
  rel.sum().backward();
  EXPECT_TRUE(at::isfinite(positions.grad()).all().item<bool>());
}

TEST(SoftScene, BadScenesAreClearErrors) {
  vqa::SceneGraph scene;
  vqa::SceneObject o;
  o.attributes = {{"color", "red"}, {"shape", "cube"}, {"material", "metal"}, {"size", "huge"}};
  scene.addObject(o);
  try {
    SoftScene::fromSceneGraph({scene});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "scene 0: object 0: unknown size 'huge'");
  }
  o.attributes["size"] = "small";
  vqa::SceneGraph two;
  two.addObject(o);
  two.addObject(o);
  EXPECT_THROW(SoftScene::fromSceneGraph({two}, 1), std::runtime_error);
  SoftScene padded = SoftScene::fromSceneGraph({two, vqa::SceneGraph()}, 3);
  EXPECT_EQ(padded.mask[1].sum().item<float>(), 0.0f);
  EXPECT_EQ(padded.mask[0].sum().item<float>(), 2.0f);
}
