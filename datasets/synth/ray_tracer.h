// CPU ray tracer for CLEVR scenes: analytic cube / sphere / cylinder on a ground plane, three area
// lights with soft shadows, matte rubber and reflective metal, adaptive anti-aliasing, std::thread.
#pragma once
#include <cstdint>
#include <string>
#include <opencv2/core.hpp>
#include <vector>

#include "datasets/synth/camera.h"

namespace vqa::synth {

enum class Shape { Cube, Sphere, Cylinder };
enum class Material { Rubber, Metal };

struct RenderObject {
  Shape shape = Shape::Sphere;
  Material material = Material::Rubber;
  Vec3 color;           // linear RGB in 0..1 (CLEVR's properties.json value / 255, as Blender takes it)
  Vec3 center;          // 3d_coords
  double size = 0.7;    // CLEVR's scale r: sphere radius, cube half side, cylinder radius and half height
  double rotation = 0;  // about the vertical axis, in radians: CLEVR records the value its renderer used as radians
};

struct AreaLight {
  Vec3 position;
  double radius = 1.0;  // disc radius, sets shadow softness
  double intensity = 1.0;  // irradiance at the origin, facing the light (falls off as 1/d^2)
};

struct Lighting {
  AreaLight key, fill, back;
};

struct RenderSettings {
  int width = 480, height = 320;
  int threads = 2;
  int shadow_samples = 8;    // per light and shading point (2 first; the rest only in penumbrae)
  int aa_samples = 4;        // extra samples in pixels on an object edge (adaptive anti-aliasing)
  uint64_t seed = 0;         // noise pattern of the sampling
  double exposure = 0.23;     // linear scale before the sRGB transfer curve
  double ground_albedo = 0.62;
  double ambient = 0.5;     // sky irradiance on upward surfaces
  double ambient_side = 1.0; // ambient on a vertical surface relative to an upward one (0.2 below: linear in n.z)
  Vec3 sky = {0.6, 0.6, 0.6};  // radiance seen straight up by reflections that leave the scene
  double sky_horizon = 0.45;  // radiance at the horizon relative to straight up (linear in the ray's height)
  double light_radiance = 40;  // radiance of the light discs seen in mirror reflections, times their intensity
  double grain = 0.46;          // standard deviation of per-pixel noise, in 8-bit levels (path-tracing grain)
  double rubber_specular = 0.05;
  double rubber_shininess = 20;
  double metal_reflect = 0.95;   // share of the tinted mirror reflection
  double metal_diffuse = 0.1;   // share of the diffuse term
  double metal_specular = 1.5;   // tinted highlight of each light
  double metal_shininess = 60;
  // Light rig, relative to the base camera's heading (azimuth 0 = from the camera side, + = to its right).
  // The defaults were chosen with bench_render_fidelity on the real train images (colour error, structure
  // ratio, texture inside metal and rubber objects, fine noise) and checked on the real val images.
  double key_azimuth = 1.25, key_elevation = 45, key_intensity = 0.5;
  double fill_azimuth = 25, fill_elevation = 30, fill_intensity = 0.55;
  double back_azimuth = 185, back_elevation = 45, back_intensity = 0.3;
  double light_distance = 14.5, light_radius = 3.0;
  // Radius of a cube's rounded edges as a share of its half side (CLEVR's cube is bevelled); 0: sharp edges.
  // The visibility check of the scene sampler (objectIdBuffer) keeps sharp edges.
  double cube_bevel = 0;
};

// Sets one field by name ("exposure=1.2"); throws std::runtime_error for an unknown name or bad value.
void setRenderSetting(RenderSettings& settings, const std::string& assignment);

// Throws std::runtime_error("--option: problem") for a setting outside the range that makes sense for it
// (e.g. "--width: 0 is not an integer in [16, 4096]").
void checkRenderSettings(const RenderSettings& settings);
// One line per field, "name = value", for benches and logs.
std::string describeRenderSettings(const RenderSettings& settings);

// The light rig of `settings` placed for a camera at camera_position looking at the origin.
Lighting clevrLighting(const RenderSettings& settings, const Vec3& camera_position);

// Renders to an 8-bit BGR image (OpenCV order). When `ids` is given it receives, per pixel, the index of
// the object seen by the pixel centre's primary ray or -1 for the ground (CV_16S).
cv::Mat renderScene(const std::vector<RenderObject>& objects, const Camera& camera, const Lighting& lighting,
                    const RenderSettings& settings, cv::Mat* ids = nullptr);

// Primary rays only: the object-id buffer (CV_16S, -1 = ground) used to count visible pixels.
cv::Mat objectIdBuffer(const std::vector<RenderObject>& objects, const Camera& camera, int threads = 1);

// Visible pixels per object in an id buffer.
std::vector<int> visiblePixels(const cv::Mat& ids, size_t object_count);

}  // namespace vqa::synth
