// SoftScene: the tensor form of an object-level scene graph that the vision model produces and the
// differentiable executor consumes. Every slot holds an existence probability, one distribution per
// CLEVR attribute group (vocab.h order), a 3-D position and soft relation matrices.
#pragma once
#include <ATen/ATen.h>

#include <array>
#include <vector>

#include "core/scene_graph.h"
#include "core/vocab.h"

namespace vqa {

struct SoftScene {
  at::Tensor mask;                     // [B, N] existence probability (one-hot scenes: 1 for objects, 0 for padding)
  std::vector<at::Tensor> attributes;  // clevr::kNumAttributes tensors [B, N, V_a]: color 8, shape 3, material 2, size 2
  at::Tensor relations;                // [B, 4, N, N]: [b, r, i, j] = P(object j is relation r of object i)
  at::Tensor positions;                // [B, N, 3] 3-D coordinates on CLEVR's ground plane
  at::Tensor features;                 // optional [B, N, D] slot features (undefined when absent)

  int64_t batchSize() const { return mask.size(0); }
  int64_t numSlots() const { return mask.size(1); }
  const at::Tensor& attribute(clevr::Attribute a) const { return attributes.at(static_cast<size_t>(a)); }

  // One-hot scenes from symbolic ones, padded to max_objects slots (0: the largest scene's object count).
  // Relations come from the scene graphs' edges (CLEVR's relationships lists), positions from 3d_coords.
  // Throws std::runtime_error("scene K: object J: ...") for an unknown or missing attribute value and
  // for a scene with more objects than max_objects.
  static SoftScene fromSceneGraph(const std::vector<SceneGraph>& scenes, int64_t max_objects = 0);

  // Throws std::runtime_error naming the first tensor whose shape disagrees with mask's [B, N].
  void checkShapes() const;
};

// CLEVR's relation rule made soft: rel[b, r, i, j] = sigmoid(sharpness * ((p_j - p_i) . dir_r - eps)),
// zero on the diagonal and wherever either slot has zero existence in `mask` (pass an undefined mask for
// all slots). positions [B, N, 3]; directions [4, 3] (or [B, 4, 3]) in relation order left, right, behind,
// front. A large sharpness gives CLEVR's hard rule.
at::Tensor softRelations(const at::Tensor& positions, const at::Tensor& directions, const at::Tensor& mask = {},
                         double eps = 0.2, double sharpness = 50.0);

// The ground-plane directions of a CLEVR scene record ("directions" left, right, behind, front) as [4, 3].
// Throws std::runtime_error when one is missing.
at::Tensor relationDirections(const SceneGraph& scene);

}  // namespace vqa
