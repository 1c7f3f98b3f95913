// CLEVR's object vocabulary as the renderer needs it (properties.json: colour RGB values, size scales)
// and the adapters from a vqa::SceneGraph to render objects and camera observations.
#pragma once
#include <string>
#include <vector>

#include "core/scene_graph.h"
#include "datasets/synth/camera_fit.h"
#include "datasets/synth/ray_tracer.h"

namespace vqa::synth {

struct ClevrColor {
  const char* name;
  int r, g, b;
};
// properties.json's RGB value of each of CLEVR's 8 colours (the vocabulary itself is clevr::colors()).
const std::vector<ClevrColor>& clevrColors();
double clevrSizeScale(const std::string& size);  // properties.json: large 0.7, small 0.35

// Throws std::runtime_error naming the object and the unknown value.
RenderObject renderObjectFor(const SceneObject& object);
std::vector<RenderObject> renderObjectsFor(const SceneGraph& scene);
SceneObservations cameraObservationsFor(const SceneGraph& scene);

// Renders a scene record as CLEVR shot it: the camera position is recovered from the objects'
// pixel_coords when they carry a depth (real CLEVR and our own scenes), else CLEVR's base camera;
// lights are the base rig without jitter.
cv::Mat renderClevrScene(const SceneGraph& scene, const RenderSettings& settings);

}  // namespace vqa::synth
