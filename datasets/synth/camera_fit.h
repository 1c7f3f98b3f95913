// Calibrates the CLEVR camera from annotated scenes: finds the shared orientation and focal length
// and each image's jittered position so that 3d_coords project onto pixel_coords.
#pragma once
#include <vector>

#include "datasets/synth/camera.h"

namespace vqa::synth {

struct CameraObservation {
  Vec3 world;  // 3d_coords
  Vec3 pixel;  // pixel_coords [x, y, depth]
};
using SceneObservations = std::vector<CameraObservation>;

struct CameraFitResult {
  CameraModel model;
  std::vector<Vec3> positions;  // per scene
  double mean_error_px = 0, median_error_px = 0, max_error_px = 0, mean_depth_error = 0;
  size_t points = 0;
  Vec3 position_min, position_max;
};

// Fits orientation + focal (shared) and positions (per scene) at the given image size.
CameraFitResult fitCamera(const std::vector<SceneObservations>& scenes, int width = 480, int height = 320);

// Camera position of one scene for a known model (used to render a real scene file as it was shot).
Vec3 fitCameraPosition(const CameraModel& model, const SceneObservations& scene, int width = 480,
                       int height = 320);

}  // namespace vqa::synth
