// Perspective pinhole camera matching CLEVR's Blender camera: projection of world points to
// pixel_coords [x, y, depth], primary rays for the ray tracer, and the calibrated default.
#pragma once
#include "datasets/synth/vec3.h"

namespace vqa::synth {

// CLEVR's camera always looks at a fixed target with no roll; its position is jittered per image
// (uniform +-jitter per axis, CLEVR's --camera_jitter), which turns it slightly.
struct CameraModel {
  Vec3 target;       // the point the camera looks at
  double focal = 0;  // pixels at width 480
  Vec3 base_position;
  double position_jitter = 0.5;
};

// CLEVR's camera as fitted from the real scenes' 3d_coords -> pixel_coords (camera_fit.h, `vqa fit-camera`).
CameraModel clevrCameraModel();

struct Camera {
  Vec3 position, right, up, forward;
  double fx = 0, fy = 0, cx = 0, cy = 0;
  int width = 480, height = 320;

  static Camera make(const CameraModel& model, const Vec3& position, int width, int height);
  // Continuous image coordinates (origin at the top-left corner of the image, x right, y down)
  // and the depth along the view axis, as Blender's world_to_camera_view gives them.
  Vec3 project(const Vec3& p) const {
    Vec3 d = p - position;
    double z = dot(d, forward);
    return {cx + fx * dot(d, right) / z, cy - fy * dot(d, up) / z, z};
  }
  // Unit direction of the ray through continuous image coordinates (u, v).
  Vec3 rayDirection(double u, double v) const {
    return normalize(forward + right * ((u - cx) / fx) - up * ((v - cy) / fy));
  }
};

// The ground-plane unit directions CLEVR records in "directions" for this camera.
struct Directions {
  Vec3 left, right, front, behind, above, below;
};
Directions cameraDirections(const Camera& camera);

}  // namespace vqa::synth
