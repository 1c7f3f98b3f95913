// Camera model and fit, ray tracer determinism and object-id buffer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/clevr_style.h"
#include "datasets/synth/fidelity.h"
#include "test_support.h"

using namespace vqa::synth;

TEST(SynthCamera, ProjectionAndRayAgree) {
  CameraModel m = clevrCameraModel();
  Camera c = Camera::make(m, m.base_position, 480, 320);
  Vec3 p{1.0, -0.5, 0.35};
  Vec3 q = c.project(p);
  Vec3 d = c.rayDirection(q.x, q.y);
  Vec3 to = normalize(p - c.position);
  EXPECT_NEAR(dot(d, to), 1.0, 1e-9);
  EXPECT_NEAR(q.z, dot(p - c.position, c.forward), 1e-9);
  // The origin is the image centre: the camera looks at it.
  Vec3 o = c.project({0, 0, 0});
  EXPECT_NEAR(o.x, 240, 1e-9);
  EXPECT_NEAR(o.y, 160, 1e-9);
  // CLEVR's recorded directions.
  Directions dirs = cameraDirections(c);
  EXPECT_NEAR(dirs.right.x, 0.6563, 1e-3);
  EXPECT_NEAR(dirs.right.y, 0.7545, 1e-3);
  EXPECT_NEAR(dirs.behind.x, -0.7545, 1e-3);
}

TEST(SynthCamera, FitOnRealScenesReprojectsWithinOnePixel) {
  VQA_REQUIRE_SHARED(shared);
  auto scenes = vqa::readClevrScenes(shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json");
  std::vector<SceneObservations> obs;
  for (size_t i = 0; i < 60 && i < scenes.scenes.size(); ++i) obs.push_back(cameraObservationsFor(scenes.scenes[i]));
  CameraFitResult r = fitCamera(obs);
  EXPECT_LT(r.mean_error_px, 1.0);
  EXPECT_NEAR(r.model.focal, 525, 5);
  EXPECT_NEAR(length(r.model.target), 0, 0.05);
}

namespace {
std::vector<RenderObject> twoObjects() {
  // shape, material, colour, centre, size, rotation
  const RenderObject a{Shape::Sphere, Material::Metal, {0.5, 0.1, 0.1}, {0, 0, 0.7}, 0.7, 0};
  const RenderObject b{Shape::Cube, Material::Rubber, {0.1, 0.1, 0.8}, {2, 1, 0.35}, 0.35, 30};
  const RenderObject c{Shape::Cylinder, Material::Rubber, {0.1, 0.1, 0.8}, {-1.5, -1.5, 0.35}, 0.35, 30};
  return {a, b, c};
}

// Quick settings for small test renders: 96x64, one shadow sample, `aa` anti-aliasing samples.
RenderSettings smallSettings(int aa) {
  RenderSettings s;
  s.width = 96;
  s.height = 64;
  s.shadow_samples = 1;
  s.aa_samples = aa;
  return s;
}
}  // namespace

TEST(SynthRayTracer, DeterministicAcrossThreadCounts) {
  CameraModel m = clevrCameraModel();
  Camera cam = Camera::make(m, m.base_position, 96, 64);
  RenderSettings s = smallSettings(2);
  s.threads = 1;
  Lighting l = clevrLighting(s, m.base_position);
  cv::Mat ids;
  cv::Mat a = renderScene(twoObjects(), cam, l, s, &ids);
  s.threads = 2;
  cv::Mat b = renderScene(twoObjects(), cam, l, s);
  ASSERT_EQ(a.size(), cv::Size(96, 64));
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0);
  // The sphere sits at the origin, which the camera looks at.
  EXPECT_EQ(ids.at<int16_t>(32, 48), 0);
  auto counts = visiblePixels(ids, 3);
  EXPECT_GT(counts[0], counts[1]);
  EXPECT_GT(counts[2], 0);
  EXPECT_EQ(ids.at<int16_t>(63, 0), -1);  // ground in a corner
}

TEST(SynthRayTracer, IdBufferMatchesProjectedCentres) {
  CameraModel m = clevrCameraModel();
  Camera cam = Camera::make(m, m.base_position, 480, 320);
  auto objects = twoObjects();
  cv::Mat ids = objectIdBuffer(objects, cam, 2);
  for (size_t i = 0; i < objects.size(); ++i) {
    Vec3 p = cam.project(objects[i].center);
    EXPECT_EQ(ids.at<int16_t>(int(p.y), int(p.x)), int(i));
  }
}

TEST(SynthRayTracer, BevelledCubeMatchesABruteForceRoundedBox) {
  // One large cube, turned 0.5 rad, edges rounded to 0.3 of its half side. Reference: each pixel's primary ray
  // sampled densely against the rounded box's distance function (hit where it reaches <= 0).
  CameraModel m = clevrCameraModel();
  Camera cam = Camera::make(m, m.base_position, 120, 80);
  const RenderObject cube{Shape::Cube, Material::Rubber, {0.5, 0.5, 0.5}, {0, 0, 0.7}, 0.7, 0.5};
  RenderSettings s = smallSettings(0);
  s.width = 120;
  s.height = 80;
  s.cube_bevel = 0.3;
  Lighting l = clevrLighting(s, m.base_position);
  cv::Mat bevelled, sharp;
  renderScene({cube}, cam, l, s, &bevelled);
  s.cube_bevel = 0;
  renderScene({cube}, cam, l, s, &sharp);
  const double r = cube.size, b = 0.3 * r, inner = r - b, c = std::cos(0.5), sn = std::sin(0.5);
  int in_reference = 0, in_bevelled = 0, disagree = 0, outside_sharp = 0;
  for (int y = 0; y < 80; ++y)
    for (int x = 0; x < 120; ++x) {
      const Vec3 d = cam.rayDirection(x + 0.5, y + 0.5);
      bool hit = false;
      const double middle = dot(cube.center - cam.position, d);  // the cube lies within 1.3 of it along the ray
      for (int k = 0; k < 6000 && !hit; ++k) {
        const Vec3 p = cam.position + d * (middle - 1.5 + k * 0.0005) - cube.center;
        const Vec3 q{c * p.x + sn * p.y, -sn * p.x + c * p.y, p.z};
        const Vec3 e{std::max(std::abs(q.x) - inner, 0.0), std::max(std::abs(q.y) - inner, 0.0),
                     std::max(std::abs(q.z) - inner, 0.0)};
        hit = length(e) - b <= 0 && std::max({std::abs(q.x), std::abs(q.y), std::abs(q.z)}) <= r;
      }
      const bool got = bevelled.at<int16_t>(y, x) == 0;
      in_reference += hit;
      in_bevelled += got;
      disagree += hit != got;
      outside_sharp += got && sharp.at<int16_t>(y, x) != 0;
    }
  ASSERT_GT(in_reference, 300);
  EXPECT_LE(disagree, 2);  // a ray that grazes the surface between two reference samples
  EXPECT_EQ(outside_sharp, 0);  // the rounded cube lies inside the sharp one
  EXPECT_LT(in_bevelled, visiblePixels(sharp, 1)[0]);
  EXPECT_THROW(setRenderSetting(s, "cube_bevel=0.6"), std::runtime_error);
}

TEST(SynthRayTracer, RendersRealSceneAndRejectsBadSettings) {
  VQA_REQUIRE_SHARED(shared);
  auto scenes = vqa::readClevrScenes(shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json");
  RenderSettings s = smallSettings(0);
  cv::Mat img = renderClevrScene(scenes.scenes[0], s);
  EXPECT_EQ(img.size(), cv::Size(96, 64));
  EXPECT_THROW(setRenderSetting(s, "no_such=1"), std::runtime_error);
  EXPECT_THROW(setRenderSetting(s, "exposure=bright"), std::runtime_error);
  setRenderSetting(s, "exposure=0.5");
  EXPECT_DOUBLE_EQ(s.exposure, 0.5);
}

// The fidelity measures on images whose values are known by hand.
TEST(SynthFidelity, TextureAndFineNoiseMeasureWhatTheySay) {
  // Texture: a region half grey 100, half grey 140 has mean |grey - 120| = 20; a flat one 0; a region that
  // erodes to almost nothing is not measured.
  cv::Mat image(40, 40, CV_8UC3, cv::Scalar(100, 100, 100));
  image(cv::Rect(20, 0, 20, 40)).setTo(cv::Scalar(140, 140, 140));
  const cv::Mat all(40, 40, CV_8U, cv::Scalar(255));
  EXPECT_NEAR(vqa::synth::textureInside(image, all, 0), 20.0, 1e-9);
  cv::Mat left = cv::Mat::zeros(40, 40, CV_8U);
  left(cv::Rect(0, 0, 20, 40)).setTo(255);
  EXPECT_NEAR(vqa::synth::textureInside(image, left, 2), 0.0, 1e-9);
  cv::Mat tiny = cv::Mat::zeros(40, 40, CV_8U);
  tiny(cv::Rect(5, 5, 5, 5)).setTo(255);
  EXPECT_EQ(vqa::synth::textureInside(image, tiny, 2), -1);
  // Fine noise: none in a flat image; a +-10 checkerboard leaves most of its contrast after a sigma-1.5 blur.
  EXPECT_NEAR(vqa::synth::fineNoise(cv::Mat(40, 40, CV_8UC3, cv::Scalar(90, 90, 90))), 0.0, 1e-4);
  cv::Mat checker(40, 40, CV_8UC3);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 40; ++x) checker.at<cv::Vec3b>(y, x) = cv::Vec3b::all((x + y) % 2 ? 110 : 90);
  const double noise = vqa::synth::fineNoise(checker);
  EXPECT_GT(noise, 8.0);
  EXPECT_LE(noise, 10.0 + 1e-3);
}

// Grain, the darker horizon and the light discs seen in mirrors each change the image the way they say.
TEST(SynthRayTracer, GrainHorizonAndLightDiscsDoWhatTheySay) {
  CameraModel m = clevrCameraModel();
  Camera cam = Camera::make(m, m.base_position, 96, 64);
  RenderSettings s = smallSettings(0);
  s.grain = 0;
  s.light_radiance = 0;
  s.sky_horizon = 1;
  s.light_radius = 3;  // discs large enough to be seen by some pixel at this size
  Lighting l = clevrLighting(s, m.base_position);
  cv::Mat ids;
  const cv::Mat plain = renderScene(twoObjects(), cam, l, s, &ids);
  // Grain: zero-mean noise of the given spread, the same on the three channels, fixed by the seed.
  s.grain = 2.0;
  const cv::Mat grainy = renderScene(twoObjects(), cam, l, s), again = renderScene(twoObjects(), cam, l, s);
  EXPECT_EQ(cv::norm(grainy, again, cv::NORM_INF), 0);
  cv::Mat diff;
  cv::Mat(grainy).convertTo(diff, CV_64FC3);
  cv::Mat base;
  plain.convertTo(base, CV_64FC3);
  diff -= base;
  cv::Scalar mean, spread;
  cv::meanStdDev(diff.reshape(1), mean, spread);
  EXPECT_NEAR(mean[0], 0.0, 0.15);
  EXPECT_NEAR(spread[0], 2.0, 0.3);
  const cv::Vec3d px = diff.at<cv::Vec3d>(10, 10);
  EXPECT_EQ(px[0], px[1]);
  EXPECT_EQ(px[1], px[2]);
  s.grain = 0;
  // A darker horizon darkens only the metal sphere (its mirror sees the sky); rubber and ground stay.
  s.sky_horizon = 0.2;
  const cv::Mat dusk = renderScene(twoObjects(), cam, l, s);
  const cv::Mat sphere = ids == 0, rest = ids != 0;
  EXPECT_LT(cv::mean(dusk, sphere)[2], cv::mean(plain, sphere)[2] - 1.0);
  EXPECT_EQ(cv::norm(dusk, plain, cv::NORM_INF, rest), 0);
  s.sky_horizon = 1;
  // Light discs: some sphere pixels become much brighter (the lights' reflections), nothing else changes.
  s.light_radiance = 50;
  const cv::Mat shiny = renderScene(twoObjects(), cam, l, s);
  EXPECT_EQ(cv::norm(shiny, plain, cv::NORM_INF, rest), 0);
  EXPECT_GT(cv::norm(shiny, plain, cv::NORM_INF, sphere), 40);
  cv::Mat brighter;
  cv::compare(shiny, plain, brighter, cv::CMP_GE);
  EXPECT_EQ(cv::countNonZero(brighter.reshape(1)), static_cast<int>(brighter.total() * 3));
}
