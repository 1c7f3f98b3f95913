// Back-projection onto CLEVR's ground plane with the camera that datasets/synth fits to CLEVR.
#include "vision/ground_plane.h"

#include "datasets/synth/camera.h"

namespace vqa::vision {

namespace {
at::Tensor vec(const synth::Vec3& v) { return at::tensor({v.x, v.y, v.z}, at::kDouble); }
}  // namespace

GroundPlane::GroundPlane() {
  const synth::CameraModel model = synth::clevrCameraModel();
  setCamera(synth::Camera::make(model, model.base_position, 480, 320));
}

GroundPlane::GroundPlane(const synth::Camera& camera) { setCamera(camera); }

void GroundPlane::setCamera(const synth::Camera& camera) {
  position_ = vec(camera.position);
  forward_ = vec(camera.forward);
  right_ = vec(camera.right);
  up_ = vec(camera.up);
  const double scale = 480.0 / camera.width;  // intrinsics at 480x320
  fx_ = camera.fx * scale;
  fy_ = camera.fy * scale;
  cx_ = camera.cx * scale;
  cy_ = camera.cy * scale;
  const synth::Directions d = synth::cameraDirections(camera);
  directions_ = at::stack({vec(d.left), vec(d.right), vec(d.behind), vec(d.front)}).to(at::kFloat);
}

at::Tensor GroundPlane::rayDepth(const at::Tensor& pixels, const at::Tensor& heights, at::Tensor* ray_out) const {
  TORCH_CHECK(pixels.size(-1) == 2, "GroundPlane: pixels must end in 2 coordinates");
  const auto options = pixels.options();
  const at::Tensor u = pixels.select(-1, 0).unsqueeze(-1);
  const at::Tensor v = pixels.select(-1, 1).unsqueeze(-1);
  const at::Tensor forward = forward_.to(options), right = right_.to(options), up = up_.to(options);
  const at::Tensor position = position_.to(options);
  // The ray through (u, v): forward + right (u - cx) / fx - up (v - cy) / fy (unnormalised is fine).
  at::Tensor ray = forward + right * ((u - cx_) / fx_) - up * ((v - cy_) / fy_);
  const at::Tensor ray_z = ray.select(-1, 2);
  if (ray_out) *ray_out = ray;
  // The ray's forward component is 1, so the parameter t is also the depth along the view axis.
  return (heights.to(options) - position.select(0, 2)) / ray_z;
}

at::Tensor GroundPlane::backProject(const at::Tensor& pixels, const at::Tensor& heights) const {
  at::Tensor ray;
  const at::Tensor t = rayDepth(pixels, heights, &ray);
  return position_.to(pixels.options()) + ray * t.unsqueeze(-1);
}

at::Tensor GroundPlane::pixelsPerUnit(const at::Tensor& pixels, const at::Tensor& heights) const {
  return fx_ / rayDepth(pixels, heights, nullptr).clamp_min(1e-3);
}

at::Tensor mirrorRelations(const at::Tensor& relations, const at::Tensor& mirrored) {
  TORCH_CHECK(relations.dim() == 4 && relations.size(1) == 4, "mirrorRelations: relations must be [B, 4, N, N]");
  TORCH_CHECK(mirrored.dim() == 1 && mirrored.size(0) == relations.size(0), "mirrorRelations: mirrored must be [B]");
  const at::Tensor order = at::tensor({1, 0, 2, 3}, at::TensorOptions(at::kLong).device(relations.device()));
  const at::Tensor which = mirrored.to(relations.device(), at::kBool).view({-1, 1, 1, 1});
  return at::where(which, relations.index_select(1, order), relations);
}

}  // namespace vqa::vision
