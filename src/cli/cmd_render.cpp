// `vqa render`: ray-traces one scene of a CLEVR scenes file (real CLEVR or generated) to a PNG, written
// atomically once the options and the scene have been checked.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/clevr_style.h"
#include "datasets/synth/generator.h"

namespace {
struct RenderArgs {
  std::string scenes, out;
  int index = 0;
  vqa::synth::RenderSettings settings;
  std::vector<std::string> set;
};
}  // namespace

static vqa::cli::Registrar reg("render", "Render one scene of a CLEVR scenes file to a PNG", [](CLI::App& app) {
  auto args = std::make_shared<RenderArgs>();
  app.add_option("--scenes", args->scenes, "CLEVR scenes JSON file")->required();
  app.add_option("--index", args->index, "position of the scene in the file (0-based)");
  app.add_option("--out", args->out, "output PNG")->required();
  app.add_option("--width", args->settings.width, "image width (16 to 4096)");
  app.add_option("--height", args->settings.height, "image height (16 to 4096)");
  app.add_option("--threads", args->settings.threads, "render threads (1 to 256)");
  app.add_option("--set", args->set, "renderer setting name=value (repeatable)");
  app.callback([args] {
    for (const auto& s : args->set) vqa::synth::setRenderSetting(args->settings, s);
    vqa::synth::checkRenderSettings(args->settings);
    if (args->index < 0) throw std::runtime_error("--index: " + std::to_string(args->index) + " is negative");
    vqa::cli::checkOutputFile("--out", args->out);
    auto scenes = vqa::readClevrScenes(args->scenes);
    if (args->index < 0 || args->index >= int(scenes.scenes.size()))
      throw std::runtime_error(args->scenes + ": scene index " + std::to_string(args->index) + " out of range (file has " +
                               std::to_string(scenes.scenes.size()) + " scenes)");
    cv::Mat image;
    try {
      image = vqa::synth::renderClevrScene(scenes.scenes[size_t(args->index)], args->settings);
    } catch (const std::exception& e) {
      throw std::runtime_error(args->scenes + ": scene " + std::to_string(args->index) + ": " + e.what());
    }
    vqa::synth::writePngAtomic(args->out, image);
    std::cout << "render: wrote " << args->out << " (" << image.cols << "x" << image.rows << ")\n";
  });
});
