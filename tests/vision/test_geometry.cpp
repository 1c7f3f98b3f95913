// Ground-plane geometry: back-projecting real CLEVR objects' pixel_coords recovers their 3d_coords, the
// camera's directions are the ones CLEVR records, and relations read from a mirrored image are CLEVR's own
// once left and right trade places.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/camera.h"
#include "datasets/synth/camera_fit.h"
#include "datasets/synth/clevr_style.h"
#include "executor/soft_scene.h"
#include "test_support.h"
#include "vision/ground_plane.h"

using vqa::vision::GroundPlane;

namespace {
struct Errors {
  double mean = 0, max = 0;
};

// Back-projects every object of the scenes with `plane_for(scene)` at its true height (z = radius).
template <typename PlaneFor>
Errors backProjectionErrors(const std::vector<vqa::SceneGraph>& scenes, PlaneFor plane_for) {
  Errors e;
  long n = 0;
  for (const auto& scene : scenes) {
    const GroundPlane plane = plane_for(scene);
    for (int i = 0; i < scene.size(); ++i) {
      const auto& o = scene.object(i);
      at::Tensor p = plane.backProject(at::tensor({o.pixel[0], o.pixel[1]}, at::kDouble), at::tensor(o.coords[2], at::kDouble)).reshape({3});
      const double d = std::hypot(p[0].item<double>() - o.coords[0], p[1].item<double>() - o.coords[1]);
      EXPECT_NEAR(p[2].item<double>(), o.coords[2], 1e-9);
      e.mean += d;
      e.max = std::max(e.max, d);
      ++n;
    }
  }
  e.mean /= std::max(1L, n);
  return e;
}
}  // namespace

TEST(GroundPlane, BackProjectionRecoversRealCoordinates) {
  VQA_REQUIRE_SHARED(shared);
  const auto scenes =
      vqa::readClevrScenes(shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json").scenes;
  // With each scene's own (jittered) camera the only error left is pixel_coords' rounding to whole pixels.
  const auto model = vqa::synth::clevrCameraModel();
  Errors own = backProjectionErrors(scenes, [&](const vqa::SceneGraph& s) {
    const auto position = vqa::synth::fitCameraPosition(model, vqa::synth::cameraObservationsFor(s));
    return GroundPlane(vqa::synth::Camera::make(model, position, 480, 320));
  });
  EXPECT_LT(own.mean, 0.03);
  EXPECT_LT(own.max, 0.1);
  // With CLEVR's unjittered camera (what the parser uses: the jitter is unknown for a new image) the camera's
  // +-0.5 position jitter shifts points by about 0.13 on average (0.65 at worst on these 500 scenes).
  Errors base = backProjectionErrors(scenes, [](const vqa::SceneGraph&) { return GroundPlane(); });
  EXPECT_LT(base.mean, 0.2);
  EXPECT_LT(base.max, 0.9);
  std::printf("back-projection error (ground-plane units): own camera mean %.4f max %.4f; base camera mean %.4f max %.4f\n",
              own.mean, own.max, base.mean, base.max);
}

TEST(GroundPlane, DirectionsAreClevrs) {
  VQA_REQUIRE_SHARED(shared);
  const auto scenes =
      vqa::readClevrScenes(shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json").scenes;
  const at::Tensor d = GroundPlane().directions();
  int r = 0;
  for (const char* name : {"left", "right", "behind", "front"}) {
    const auto& expected = scenes[0].directions.at(name);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(d[r][k].item<double>(), expected[static_cast<size_t>(k)], 1e-3) << name;
    ++r;
  }
}

TEST(GroundPlane, BackProjectionIsDifferentiable) {
  const GroundPlane plane;
  at::Tensor pixels = at::tensor({240.0f, 200.0f, 100.0f, 150.0f}).view({2, 2}).set_requires_grad(true);
  at::Tensor heights = at::tensor({0.35f, 0.7f}).set_requires_grad(true);
  at::Tensor p = plane.backProject(pixels, heights);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{2, 3}));
  p.sum().backward();
  EXPECT_TRUE(at::isfinite(pixels.grad()).all().item<bool>());
  EXPECT_GT(heights.grad().abs().sum().item<float>(), 0.0f);
}

// The apparent scale at a ground point equals the camera's projection of a unit step parallel to the image.
TEST(GroundPlane, PixelsPerUnitMatchesTheCameraProjection) {
  const auto model = vqa::synth::clevrCameraModel();
  const auto camera = vqa::synth::Camera::make(model, model.base_position, 480, 320);
  const GroundPlane plane;
  for (const auto& [u, v, h] : {std::tuple{240.0, 200.0, 0.35}, {60.0, 90.0, 0.7}, {430.0, 300.0, 0.5}}) {
    at::Tensor pixel = at::tensor({u, v}, at::kDouble);
    at::Tensor height = at::tensor(h, at::kDouble);
    at::Tensor p = plane.backProject(pixel, height).reshape({3});
    const vqa::synth::Vec3 point{p[0].item<double>(), p[1].item<double>(), p[2].item<double>()};
    const double expected = camera.project(point + camera.right).x - camera.project(point).x;
    EXPECT_NEAR(plane.pixelsPerUnit(pixel, height).item<double>(), expected, 1e-6 * expected) << u << "," << v;
  }
}

namespace {
// Share of ordered object pairs (i != j, both real) where the hard relations agree with CLEVR's recorded ones.
double relationAgreement(const at::Tensor& predicted, const vqa::SoftScene& truth) {
  const at::Tensor pair = (truth.mask.unsqueeze(2) * truth.mask.unsqueeze(1)) * (1 - at::eye(truth.numSlots()));
  const at::Tensor valid = pair.unsqueeze(1).expand_as(truth.relations) > 0.5;
  const at::Tensor same = (predicted > 0.5) == (truth.relations > 0.5);
  return same.masked_select(valid).to(at::kDouble).mean().item<double>();
}
}  // namespace

// What fine-tuning with flips relies on: the objects of an image mirrored left-right (x -> 479 - x), placed on
// the ground plane and related by CLEVR's rule, agree with CLEVR's recorded relations as well as the image's
// own once left and right swap (mirrorRelations); without the swap they do not.
TEST(GroundPlane, MirroredImagesReadClevrsRelationsWithLeftAndRightSwapped) {
  VQA_REQUIRE_SHARED(shared);
  auto scenes = vqa::readClevrScenes(shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json").scenes;
  scenes.resize(200);
  const vqa::SoftScene truth = vqa::SoftScene::fromSceneGraph(scenes);
  const int64_t B = truth.batchSize(), N = truth.numSlots();
  at::Tensor pixels = at::zeros({B, N, 2}, at::kDouble), heights = at::full({B, N}, 0.35, at::kDouble);
  for (int64_t b = 0; b < B; ++b)
    for (int i = 0; i < scenes[static_cast<size_t>(b)].size(); ++i) {
      const auto& o = scenes[static_cast<size_t>(b)].object(i);
      pixels[b][i][0] = o.pixel[0];
      pixels[b][i][1] = o.pixel[1];
      heights[b][i] = o.coords[2];
    }
  const GroundPlane plane;
  auto relationsAt = [&](const at::Tensor& p) {
    return vqa::softRelations(plane.backProject(p, heights).to(at::kFloat), plane.directions(), truth.mask, 0.2, 1e4);
  };
  at::Tensor mirrored_pixels = pixels.clone();
  mirrored_pixels.select(2, 0).copy_(vqa::vision::mirroredX(pixels.select(2, 0), 480));
  const at::Tensor own = relationsAt(pixels), read = relationsAt(mirrored_pixels);
  const double plain = relationAgreement(own, truth);
  const double mirrored = relationAgreement(vqa::vision::mirrorRelations(read, at::ones({B}, at::kBool)), truth);
  const double unswapped = relationAgreement(read, truth);
  std::printf("relation agreement with CLEVR's records: image %.4f, mirror swapped %.4f, mirror unswapped %.4f\n",
              plain, mirrored, unswapped);
  EXPECT_GT(plain, 0.97);
  EXPECT_GT(mirrored, 0.97);
  EXPECT_NEAR(mirrored, plain, 0.01);
  EXPECT_LT(unswapped, 0.8);
  // Only the flagged items change.
  const at::Tensor half = at::arange(B) % 2 == 0;
  const at::Tensor mixed = vqa::vision::mirrorRelations(read, half);
  EXPECT_TRUE(mixed.index({half}).equal(vqa::vision::mirrorRelations(read, at::ones({B}, at::kBool)).index({half})));
  EXPECT_TRUE(mixed.index({~half}).equal(read.index({~half})));
}
