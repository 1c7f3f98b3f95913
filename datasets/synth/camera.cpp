// Camera construction, CLEVR's calibrated camera and its ground-plane directions.
#include "datasets/synth/camera.h"

namespace vqa::synth {

CameraModel clevrCameraModel() {
  CameraModel m;
  // The fit gives target (0.000, 0.000, 0.000), focal 525.02 px and a mean position of
  // (7.487, -6.504, 5.326) with a +-0.5 spread: Blender's default camera (35 mm lens on a 32 mm
  // sensor = 525 px at 480 wide, at (7.4811, -6.5076, 5.3437)) tracking the origin. The recorded
  // "directions" of every real scene are exactly this unjittered camera's.
  m.target = {0, 0, 0};
  m.focal = 525.0;
  m.base_position = {7.4811, -6.5076, 5.3437};
  m.position_jitter = 0.5;
  return m;
}

Camera Camera::make(const CameraModel& model, const Vec3& position, int width, int height) {
  Camera c;
  c.position = position;
  c.width = width;
  c.height = height;
  c.forward = normalize(model.target - position);
  c.right = normalize(cross(c.forward, Vec3{0, 0, 1}));
  c.up = cross(c.right, c.forward);
  double scale = width / 480.0;
  c.fx = c.fy = model.focal * scale;
  c.cx = width / 2.0;
  c.cy = height / 2.0;
  return c;
}

Directions cameraDirections(const Camera& camera) {
  auto flat = [](Vec3 v) { v.z = 0; return normalize(v); };
  Directions d;
  d.right = flat(camera.right);
  d.left = -d.right;
  d.behind = flat(camera.forward);
  d.front = -d.behind;
  d.above = {0, 0, 1};
  d.below = {0, 0, -1};
  return d;
}

}  // namespace vqa::synth
