// SoftScene construction from symbolic scene graphs and CLEVR's relation rule in soft form.
#include "executor/soft_scene.h"

#include <stdexcept>
#include <string>

namespace vqa {

SoftScene SoftScene::fromSceneGraph(const std::vector<SceneGraph>& scenes, int64_t max_objects) {
  const int64_t B = static_cast<int64_t>(scenes.size());
  int64_t N = max_objects;
  if (N <= 0) {
    N = 0;
    for (const auto& s : scenes) N = std::max<int64_t>(N, s.size());
  }
  const auto& groups = clevr::attributes();
  const auto& relation_names = clevr::relations();
  const int64_t R = static_cast<int64_t>(relation_names.size());

  at::Tensor mask = at::zeros({B, N});
  at::Tensor relations = at::zeros({B, R, N, N});
  at::Tensor positions = at::zeros({B, N, 3});
  std::vector<at::Tensor> attrs;
  for (auto a : groups) attrs.push_back(at::zeros({B, N, static_cast<int64_t>(clevr::attributeValues(a).size())}));

  auto mask_a = mask.accessor<float, 2>();
  auto rel_a = relations.accessor<float, 4>();
  auto pos_a = positions.accessor<float, 3>();
  for (int64_t b = 0; b < B; ++b) {
    const SceneGraph& scene = scenes[static_cast<size_t>(b)];
    if (scene.size() > N)
      throw std::runtime_error("scene " + std::to_string(b) + ": " + std::to_string(scene.size()) +
                               " objects, more than the " + std::to_string(N) + " slots");
    for (int i = 0; i < scene.size(); ++i) {
      const SceneObject& o = scene.object(i);
      mask_a[b][i] = 1.0f;
      for (int k = 0; k < 3; ++k) pos_a[b][i][k] = static_cast<float>(o.coords[static_cast<size_t>(k)]);
      for (size_t g = 0; g < groups.size(); ++g) {
        const std::string& name = clevr::attributeName(groups[g]);
        auto it = o.attributes.find(name);
        const std::string where = "scene " + std::to_string(b) + ": object " + std::to_string(i) + ": ";
        if (it == o.attributes.end()) throw std::runtime_error(where + "no " + name);
        const int v = clevr::valueIndex(groups[g], it->second);
        if (v < 0) throw std::runtime_error(where + "unknown " + name + " '" + it->second + "'");
        attrs[g][b][i][v] = 1.0f;
      }
    }
    // Edge j --r--> i means "j is r of i": rel[b, r, i, j] = 1.
    for (int64_t r = 0; r < R; ++r)
      for (int i = 0; i < scene.size(); ++i)
        for (int j : scene.subjectsOf(i, relation_names[static_cast<size_t>(r)])) rel_a[b][r][i][j] = 1.0f;
  }
  SoftScene out;
  out.mask = mask;
  out.attributes = std::move(attrs);
  out.relations = relations;
  out.positions = positions;
  return out;
}

void SoftScene::checkShapes() const {
  if (!mask.defined() || mask.dim() != 2) throw std::runtime_error("SoftScene: mask must be [B, N]");
  const int64_t B = mask.size(0), N = mask.size(1);
  auto expect = [&](const at::Tensor& t, const std::string& name, std::vector<int64_t> leading, int64_t dims) {
    bool ok = t.defined() && t.dim() == dims;
    for (size_t k = 0; ok && k < leading.size(); ++k) ok = t.size(static_cast<int64_t>(k)) == leading[k];
    if (!ok) throw std::runtime_error("SoftScene: " + name + " has the wrong shape");
  };
  if (attributes.size() != static_cast<size_t>(clevr::kNumAttributes))
    throw std::runtime_error("SoftScene: needs one attribute tensor per attribute group");
  for (auto a : clevr::attributes()) {
    const at::Tensor& t = attribute(a);
    expect(t, clevr::attributeName(a), {B, N, static_cast<int64_t>(clevr::attributeValues(a).size())}, 3);
  }
  expect(relations, "relations", {B, static_cast<int64_t>(clevr::relations().size()), N, N}, 4);
  expect(positions, "positions", {B, N, 3}, 3);
  if (features.defined()) expect(features, "features", {B, N}, 3);
}

at::Tensor softRelations(const at::Tensor& positions, const at::Tensor& directions, const at::Tensor& mask,
                         double eps, double sharpness) {
  TORCH_CHECK(positions.dim() == 3 && positions.size(2) == 3, "softRelations: positions must be [B, N, 3]");
  const int64_t B = positions.size(0), N = positions.size(1);
  at::Tensor dirs = directions.to(positions.scalar_type());
  if (dirs.dim() == 2) dirs = dirs.unsqueeze(0).expand({B, dirs.size(0), 3});
  TORCH_CHECK(dirs.dim() == 3 && dirs.size(2) == 3, "softRelations: directions must be [R, 3] or [B, R, 3]");
  // offsets[b, i, j] = p_j - p_i; projected[b, r, i, j] = offsets . dir_r
  at::Tensor offsets = positions.unsqueeze(1) - positions.unsqueeze(2);       // [B, N(i), N(j), 3]
  at::Tensor projected = at::einsum("bijk,brk->brij", {offsets, dirs});       // [B, R, N, N]
  at::Tensor rel = at::sigmoid(sharpness * (projected - eps));
  at::Tensor off_diagonal = 1.0 - at::eye(N, positions.options());
  rel = rel * off_diagonal;
  if (mask.defined()) {
    at::Tensor m = mask.to(positions.scalar_type());
    rel = rel * (m.unsqueeze(2) * m.unsqueeze(1)).unsqueeze(1);
  }
  return rel;
}

at::Tensor relationDirections(const SceneGraph& scene) {
  at::Tensor out = at::zeros({static_cast<int64_t>(clevr::relations().size()), 3});
  auto a = out.accessor<float, 2>();
  int64_t r = 0;
  for (const auto& name : clevr::relations()) {
    auto it = scene.directions.find(name);
    if (it == scene.directions.end()) throw std::runtime_error("scene has no direction '" + name + "'");
    for (int k = 0; k < 3; ++k) a[r][k] = static_cast<float>(it->second[static_cast<size_t>(k)]);
    ++r;
  }
  return out;
}

}  // namespace vqa
