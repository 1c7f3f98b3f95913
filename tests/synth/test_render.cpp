// Camera model and fit, ray tracer determinism and object-id buffer.
#include <gtest/gtest.h>

#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/clevr_style.h"
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
  RenderObject a;
  a.shape = Shape::Sphere;
  a.material = Material::Metal;
  a.color = {0.5, 0.1, 0.1};
  a.center = {0, 0, 0.7};
  a.size = 0.7;
  RenderObject b;
  b.shape = Shape::Cube;
  b.color = {0.1, 0.1, 0.8};
  b.center = {2, 1, 0.35};
  b.size = 0.35;
  b.rotation = 30;
  RenderObject c = b;
  c.shape = Shape::Cylinder;
  c.center = {-1.5, -1.5, 0.35};
  return {a, b, c};
}
}  // namespace

TEST(SynthRayTracer, DeterministicAcrossThreadCounts) {
  CameraModel m = clevrCameraModel();
  Camera cam = Camera::make(m, m.base_position, 96, 64);
  RenderSettings s;
  s.width = 96;
  s.height = 64;
  s.shadow_samples = 1;
  s.aa_samples = 2;
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

TEST(SynthRayTracer, RendersRealSceneAndRejectsBadSettings) {
  VQA_REQUIRE_SHARED(shared);
  auto scenes = vqa::readClevrScenes(shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json");
  RenderSettings s;
  s.width = 96;
  s.height = 64;
  s.shadow_samples = 1;
  s.aa_samples = 0;
  cv::Mat img = renderClevrScene(scenes.scenes[0], s);
  EXPECT_EQ(img.size(), cv::Size(96, 64));
  EXPECT_THROW(setRenderSetting(s, "no_such=1"), std::runtime_error);
  EXPECT_THROW(setRenderSetting(s, "exposure=bright"), std::runtime_error);
  setRenderSetting(s, "exposure=0.5");
  EXPECT_DOUBLE_EQ(s.exposure, 0.5);
}
