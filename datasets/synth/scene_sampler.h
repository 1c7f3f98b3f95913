// Random CLEVR scenes with CLEVR's rules (render_images.py): 3-10 objects, random shape / colour /
// material / size / rotation, minimum distance, margin along the cardinal directions, at least 200
// visible pixels per object (object-id buffer at 480x320), jittered camera and lights.
#pragma once
#include <random>
#include <vector>

#include "core/scene_graph.h"
#include "datasets/synth/camera.h"
#include "datasets/synth/ray_tracer.h"

namespace vqa::synth {

struct SamplerOptions {
  int min_objects = 3, max_objects = 10;
  double min_dist = 0.25;  // between object surfaces (CLEVR's --min_dist)
  double margin = 0.4;     // along each cardinal direction (CLEVR's --margin)
  int min_pixels = 200;    // visible pixels per object at 480x320 (CLEVR's --min_pixels_per_object)
  int max_retries = 50;    // placements per object before the objects are drawn again
  int max_scene_attempts = 100000;  // object draws for one scene before giving up with an error
  double light_jitter = 1.0;
  int width = 480, height = 320;  // image size that pixel_coords refer to
};

struct SampledScene {
  SceneGraph scene;  // objects, directions, relationships (split/index/filename left to the caller)
  std::vector<RenderObject> objects;
  Camera camera;      // at width x height
  Lighting lighting;
  cv::Mat ids;        // the visibility check's object-id buffer (CV_16S at 480x320, -1 = ground)
  int attempts = 0;   // object draws until one passed every rule (camera, lights and count drawn once)
};

SampledScene sampleScene(std::mt19937_64& rng, const SamplerOptions& options, const RenderSettings& render);

}  // namespace vqa::synth
