// `vqa fit-camera`: calibrates the perspective camera from a CLEVR scenes file (3d_coords -> pixel_coords)
// and prints the reprojection error.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/json_file.h"
#include "datasets/synth/clevr_style.h"

static vqa::cli::Registrar reg("fit-camera", "Fit CLEVR's camera to a scenes file and print the reprojection error",
                               [](CLI::App& app) {
  auto scenes_path = std::make_shared<std::string>();
  auto json_path = std::make_shared<std::string>();
  app.add_option("--scenes", *scenes_path, "CLEVR scenes JSON file (3d_coords and pixel_coords at 480x320)")->required();
  app.add_option("--json", *json_path, "write the fit as JSON");
  app.callback([scenes_path, json_path] {
    if (!json_path->empty()) vqa::cli::checkOutputFile("--json", *json_path);
    auto scenes = vqa::readClevrScenes(*scenes_path);
    std::vector<vqa::synth::SceneObservations> obs;
    for (const auto& s : scenes.scenes)
      if (s.size() > 0) obs.push_back(vqa::synth::cameraObservationsFor(s));
    auto r = vqa::synth::fitCamera(obs);
    const auto& m = r.model;
    std::printf("fit-camera: %zu scenes, %zu objects\n", obs.size(), r.points);
    std::printf("look-at target (%.4f, %.4f, %.4f), focal %.3f px at 480x320\n", m.target.x, m.target.y, m.target.z, m.focal);
    std::printf("camera position mean (%.4f, %.4f, %.4f), range x [%.3f, %.3f] y [%.3f, %.3f] z [%.3f, %.3f]\n",
                m.base_position.x, m.base_position.y, m.base_position.z, r.position_min.x, r.position_max.x,
                r.position_min.y, r.position_max.y, r.position_min.z, r.position_max.z);
    std::printf("reprojection error: mean %.3f px, median %.3f px, max %.3f px; depth error mean %.4f\n",
                r.mean_error_px, r.median_error_px, r.max_error_px, r.mean_depth_error);
    if (!json_path->empty()) {
      nlohmann::json j = {{"scenes", obs.size()}, {"objects", r.points},
                          {"target", {m.target.x, m.target.y, m.target.z}}, {"focal_px", m.focal},
                          {"mean_position", {m.base_position.x, m.base_position.y, m.base_position.z}},
                          {"mean_error_px", r.mean_error_px}, {"median_error_px", r.median_error_px},
                          {"max_error_px", r.max_error_px}, {"mean_depth_error", r.mean_depth_error}};
      vqa::writeJsonFileAtomic(*json_path, j, 2);
    }
  });
});
