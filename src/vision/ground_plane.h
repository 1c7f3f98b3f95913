// Geometry of CLEVR's camera for the scene parser: back-projection of image points onto the ground plane
// (an object's centre lies at height = its radius) and the ground-plane relation directions.
#pragma once
#include <ATen/ATen.h>

namespace vqa::synth { struct Camera; }

namespace vqa::vision {

// CLEVR's object radius (3d_coords z) per size value, in vocab order (small, large).
constexpr double kSmallRadius = 0.35;
constexpr double kLargeRadius = 0.7;

class GroundPlane {
 public:
  // CLEVR's unjittered camera (datasets/synth's fit) at 480x320.
  GroundPlane();
  // A given camera; image coordinates are rescaled to 480x320 for it.
  explicit GroundPlane(const synth::Camera& camera);

  // pixels [..., 2] in 480x320 image coordinates, heights [...] (object radius): the 3-D points [..., 3]
  // where the rays through the pixels reach z = height. Differentiable in both inputs.
  at::Tensor backProject(const at::Tensor& pixels, const at::Tensor& heights) const;
  // Apparent scale at those points: image pixels (480x320) per scene unit, fx / depth along the view axis.
  at::Tensor pixelsPerUnit(const at::Tensor& pixels, const at::Tensor& heights) const;
  // The camera's ground-plane unit directions left, right, behind, front as [4, 3] (CLEVR's "directions").
  const at::Tensor& directions() const { return directions_; }

 private:
  void setCamera(const synth::Camera& camera);
  // Depth t of the points where the rays through `pixels` reach z = heights (the ray itself in *ray_out).
  at::Tensor rayDepth(const at::Tensor& pixels, const at::Tensor& heights, at::Tensor* ray_out) const;
  at::Tensor position_, forward_, right_, up_;  // [3] each, float64
  double fx_ = 0, fy_ = 0, cx_ = 0, cy_ = 0;
  at::Tensor directions_;  // [4, 3] float32
};

// The column of pixel column x (any real x) in the same image mirrored left-right, `width` pixels wide.
template <class T>
T mirroredX(const T& x, double width) {
  return (width - 1.0) - x;
}

// The relations of images mirrored left-right: relations [B, 4, N, N] in CLEVR's order (left, right, behind,
// front) as read from the mirrored images, for the batch items where `mirrored` [B] (bool) is set, turned
// into those of the scenes as they are. Left and right trade places; behind and front lie in the camera's
// vertical plane, the mirror's, and stay.
at::Tensor mirrorRelations(const at::Tensor& relations, const at::Tensor& mirrored);

}  // namespace vqa::vision
