// `vqa generate`: a CLEVR v1.0 dataset folder from random scenes, our ray tracer and a template set. Every
// option is checked before any work starts; the folder appears whole or not at all.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/command.h"
#include "datasets/synth/generator.h"

static vqa::cli::Registrar reg("generate", "Generate a CLEVR-format dataset (images, scenes, questions)", [](CLI::App& app) {
  auto opt = std::make_shared<vqa::synth::GenerateOptions>();
  auto set = std::make_shared<std::vector<std::string>>();
  auto no_images = std::make_shared<bool>(false);
  app.add_option("--out", opt->out_dir, "output folder (CLEVR v1.0 layout); must be new or empty unless --overwrite")
      ->required();
  app.add_option("--images", opt->images, "number of images (1 to " + std::to_string(vqa::synth::kMaxImages) + ")")
      ->required();
  app.add_option("--split", opt->split, "split name (train, val, ...)");
  app.add_option("--seed", opt->seed, "random seed (same seed, same dataset)");
  app.add_option("--questions-per-image", opt->questions_per_image, "questions per image (at most one per template)");
  app.add_option("--threads", opt->threads, "worker threads (1 to " + std::to_string(vqa::synth::kMaxThreads) + ")");
  app.add_option("--templates", opt->templates, "template folder (default: the project's own set)");
  app.add_option("--width", opt->render.width, "image width (16 to 4096)");
  app.add_option("--height", opt->render.height, "image height (16 to 4096)");
  app.add_option("--set", *set, "renderer setting name=value (repeatable)");
  app.add_flag("--no-images", *no_images, "write scenes and questions only (objects are still checked for visibility)");
  app.add_flag("--masks", opt->write_masks,
               "also write masks/<split>/<image name>: 8-bit PNGs, each pixel the index + 1 of the object it sees "
               "(0 = ground); the scene parser's --crop-mask learns from them");
  app.add_flag("--overwrite", opt->overwrite, "replace an existing dataset in --out");
  app.callback([opt, set, no_images] {
    for (const auto& s : *set) vqa::synth::setRenderSetting(opt->render, s);
    opt->render_images = !*no_images;
    vqa::synth::checkGenerateOptions(*opt);
    auto st = vqa::synth::generateDataset(*opt, std::cerr);
    std::printf("generate: %d images, %ld questions, %d/%d families in %.1f s (scenes%s %.1f s, questions %.1f s) -> %s\n",
                st.images, st.questions, st.families_used, st.families_total, st.seconds,
                opt->render_images ? " and images" : "", st.scene_seconds, st.question_seconds, opt->out_dir.c_str());
  });
});
