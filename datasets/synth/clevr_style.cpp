// CLEVR's render properties and SceneGraph -> renderer adapters.
#include "datasets/synth/clevr_style.h"

#include <stdexcept>

namespace vqa::synth {

const std::vector<ClevrColor>& clevrColors() {
  static const std::vector<ClevrColor> colors = {
      {"gray", 87, 87, 87},   {"red", 173, 35, 35},    {"blue", 42, 75, 215},   {"green", 29, 105, 20},
      {"brown", 129, 74, 25}, {"purple", 129, 38, 192}, {"cyan", 41, 208, 208}, {"yellow", 255, 238, 51}};
  return colors;
}

double clevrSizeScale(const std::string& size) {
  if (size == "large") return 0.7;
  if (size == "small") return 0.35;
  throw std::runtime_error("unknown size '" + size + "'");
}

namespace {
const std::string& attribute(const SceneObject& o, const std::string& key) {
  auto it = o.attributes.find(key);
  if (it == o.attributes.end()) throw std::runtime_error("object has no " + key);
  return it->second;
}
}  // namespace

RenderObject renderObjectFor(const SceneObject& object) {
  RenderObject r;
  const std::string& shape = attribute(object, "shape");
  if (shape == "cube") r.shape = Shape::Cube;
  else if (shape == "sphere") r.shape = Shape::Sphere;
  else if (shape == "cylinder") r.shape = Shape::Cylinder;
  else throw std::runtime_error("unknown shape '" + shape + "'");
  const std::string& material = attribute(object, "material");
  if (material == "rubber") r.material = Material::Rubber;
  else if (material == "metal") r.material = Material::Metal;
  else throw std::runtime_error("unknown material '" + material + "'");
  const std::string& color = attribute(object, "color");
  bool found = false;
  for (const auto& c : clevrColors())
    if (color == c.name) {
      r.color = {c.r / 255.0, c.g / 255.0, c.b / 255.0};
      found = true;
    }
  if (!found) throw std::runtime_error("unknown color '" + color + "'");
  r.size = clevrSizeScale(attribute(object, "size"));
  r.center = {object.coords[0], object.coords[1], object.coords[2]};
  r.rotation = object.rotation;
  return r;
}

std::vector<RenderObject> renderObjectsFor(const SceneGraph& scene) {
  std::vector<RenderObject> out;
  for (int i = 0; i < scene.size(); ++i) {
    try {
      out.push_back(renderObjectFor(scene.object(i)));
    } catch (const std::exception& e) {
      throw std::runtime_error("object " + std::to_string(i) + ": " + e.what());
    }
  }
  return out;
}

SceneObservations cameraObservationsFor(const SceneGraph& scene) {
  SceneObservations obs;
  for (int i = 0; i < scene.size(); ++i) {
    const auto& o = scene.object(i);
    obs.push_back({{o.coords[0], o.coords[1], o.coords[2]}, {o.pixel[0], o.pixel[1], o.pixel[2]}});
  }
  return obs;
}

cv::Mat renderClevrScene(const SceneGraph& scene, const RenderSettings& settings) {
  CameraModel model = clevrCameraModel();
  SceneObservations obs = cameraObservationsFor(scene);
  bool has_depth = !obs.empty();
  for (const auto& o : obs) has_depth = has_depth && o.pixel.z > 0;
  // pixel_coords are at 480x320 in CLEVR; scenes made at another size carry their own scale, which the
  // fit cannot know, so the fit assumes 480x320.
  Vec3 position = has_depth ? fitCameraPosition(model, obs) : model.base_position;
  Camera camera = Camera::make(model, position, settings.width, settings.height);
  return renderScene(renderObjectsFor(scene), camera, clevrLighting(settings, model.base_position), settings);
}

}  // namespace vqa::synth
