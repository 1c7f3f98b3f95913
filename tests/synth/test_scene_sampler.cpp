// The scene sampler keeps CLEVR's rules.
#include <gtest/gtest.h>

#include <cmath>

#include "datasets/synth/clevr_style.h"
#include "datasets/synth/scene_sampler.h"

using namespace vqa::synth;

TEST(SynthSampler, ScenesFollowClevrRules) {
  SamplerOptions opt;
  RenderSettings rs;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    std::mt19937_64 rng(seed);
    SampledScene s = sampleScene(rng, opt, rs);
    const auto& g = s.scene;
    ASSERT_GE(g.size(), 3);
    ASSERT_LE(g.size(), 10);
    ASSERT_EQ(g.directions.size(), 6u);
    auto dir = [&](const char* r) { auto d = g.directions.at(r); return Vec3{d[0], d[1], d[2]}; };
    for (int i = 0; i < g.size(); ++i) {
      const auto& a = g.object(i);
      double ra = clevrSizeScale(a.attributes.at("size"));
      EXPECT_DOUBLE_EQ(a.coords[2], ra);
      EXPECT_GE(a.rotation, 0);
      EXPECT_LT(a.rotation, 360);
      Vec3 p = s.camera.project({a.coords[0], a.coords[1], a.coords[2]});
      EXPECT_DOUBLE_EQ(a.pixel[0], std::round(p.x));
      EXPECT_NEAR(a.pixel[2], p.z, 1e-9);
      for (int j = 0; j < g.size(); ++j) {
        if (i == j) continue;
        const auto& b = g.object(j);
        Vec3 d{b.coords[0] - a.coords[0], b.coords[1] - a.coords[1], b.coords[2] - a.coords[2]};
        if (j > i) {
          double rb = clevrSizeScale(b.attributes.at("size"));
          EXPECT_GE(std::hypot(d.x, d.y) - ra - rb, opt.min_dist - 1e-9);
        }
        for (const char* r : {"left", "right", "front", "behind"}) {
          EXPECT_EQ(g.hasRelation(j, i, r), dot(d, dir(r)) > 0.2) << r;
          double m = d.x * dir(r).x + d.y * dir(r).y;
          EXPECT_FALSE(m > 0 && m < opt.margin);
        }
      }
    }
    Camera check = s.camera;
    auto counts = visiblePixels(objectIdBuffer(s.objects, check, 2), s.objects.size());
    for (int c : counts) EXPECT_GE(c, opt.min_pixels);
  }
}

TEST(SynthSampler, SameSeedSameScene) {
  std::mt19937_64 a(42), b(42);
  auto s1 = sampleScene(a, {}, {});
  auto s2 = sampleScene(b, {}, {});
  ASSERT_EQ(s1.scene.size(), s2.scene.size());
  for (int i = 0; i < s1.scene.size(); ++i) {
    EXPECT_EQ(s1.scene.object(i).attributes, s2.scene.object(i).attributes);
    EXPECT_EQ(s1.scene.object(i).coords, s2.scene.object(i).coords);
  }
}
