// Scene sampling as CLEVR's render_images.py does it, with the ray tracer's object-id buffer standing in
// for Blender's flat-colour visibility render.
#include "datasets/synth/scene_sampler.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "core/vocab.h"

#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/clevr_style.h"

namespace vqa::synth {

SampledScene sampleScene(std::mt19937_64& rng, const SamplerOptions& opt, const RenderSettings& render) {
  std::uniform_real_distribution<double> uni(-1.0, 1.0), unit(0.0, 1.0);
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  CameraModel model = clevrCameraModel();
  Camera base = Camera::make(model, model.base_position, opt.width, opt.height);
  Directions dirs = cameraDirections(base);
  const Vec3 cardinal[4] = {dirs.left, dirs.right, dirs.front, dirs.behind};

  // As render_images.py: the camera, the lights and the number of objects are drawn once per scene; only
  // the objects are drawn again when a placement or the visibility check fails.
  SampledScene out;
  Vec3 cam_pos = model.base_position + Vec3{uni(rng), uni(rng), uni(rng)} * model.position_jitter;
  Camera camera = Camera::make(model, cam_pos, opt.width, opt.height);
  Lighting lights = clevrLighting(render, model.base_position);
  for (AreaLight* l : {&lights.key, &lights.fill, &lights.back})
    l->position += Vec3{uni(rng), uni(rng), uni(rng)} * opt.light_jitter;
  const int n = opt.min_objects + int(pick(size_t(opt.max_objects - opt.min_objects + 1)));
  for (;;) {
    if (++out.attempts > opt.max_scene_attempts)
      throw std::runtime_error("no placement of " + std::to_string(n) + " objects passed CLEVR's rules in " +
                               std::to_string(opt.max_scene_attempts) + " attempts");
    std::vector<RenderObject> objects;
    std::vector<SceneObject> records;
    bool failed = false;
    for (int i = 0; i < n && !failed; ++i) {
      const std::string& size = clevr::sizes()[pick(clevr::sizes().size())];
      double r = clevrSizeScale(size);
      int tries = 0;
      double x = 0, y = 0;
      for (;; ++tries) {
        if (tries > opt.max_retries) { failed = true; break; }
        x = 3 * uni(rng);
        y = 3 * uni(rng);
        bool ok = true;
        for (const auto& o : objects) {
          double dx = x - o.center.x, dy = y - o.center.y;
          if (std::hypot(dx, dy) - r - o.size < opt.min_dist) { ok = false; break; }
          for (const Vec3& d : cardinal) {
            double m = dx * d.x + dy * d.y;
            if (m > 0 && m < opt.margin) { ok = false; break; }
          }
          if (!ok) break;
        }
        if (ok) break;
      }
      if (failed) break;
      SceneObject so;
      so.id = std::to_string(i);
      so.attributes["shape"] = clevr::shapes()[pick(clevr::shapes().size())];
      so.attributes["color"] = clevr::colors()[pick(clevr::colors().size())];
      so.attributes["material"] = clevr::materials()[pick(clevr::materials().size())];
      so.attributes["size"] = size;
      so.coords = {x, y, r};
      so.rotation = 360.0 * unit(rng);  // CLEVR's theta, which Blender reads as radians
      objects.push_back(renderObjectFor(so));
      records.push_back(so);
    }
    if (failed) continue;
    // Visibility at CLEVR's 480x320 whatever the output size.
    Camera check = Camera::make(model, cam_pos, 480, 320);
    cv::Mat ids = objectIdBuffer(objects, check, 1);
    auto visible = visiblePixels(ids, objects.size());
    bool all_visible = true;
    for (int v : visible) all_visible = all_visible && v >= opt.min_pixels;
    if (!all_visible) continue;

    SceneGraph g;
    for (auto& so : records) {
      Vec3 p = camera.project({so.coords[0], so.coords[1], so.coords[2]});
      so.pixel = {std::round(p.x), std::round(p.y), p.z};
      g.addObject(so);
    }
    auto arr = [](const Vec3& v) { return std::array<double, 3>{v.x, v.y, v.z}; };
    g.directions = {{"left", arr(dirs.left)},   {"right", arr(dirs.right)}, {"front", arr(dirs.front)},
                    {"behind", arr(dirs.behind)}, {"above", arr(dirs.above)}, {"below", arr(dirs.below)}};
    addClevrRelationships(g);
    out.scene = std::move(g);
    out.objects = std::move(objects);
    out.camera = camera;
    out.lighting = lights;
    out.ids = std::move(ids);
    return out;
  }
}

}  // namespace vqa::synth
