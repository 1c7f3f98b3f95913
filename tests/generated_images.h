// Small generated CLEVR-style datasets for the suites that train a model from pixels (model, serve).
#pragma once
#include <cstdint>
#include <sstream>
#include <string>

#include "datasets/synth/generator.h"

namespace vqa::testing {

// Generated images (240x160: small and quick) with scenes and questions from the project's templates, in the
// CLEVR layout under `dir` (with the object masks when `masks`); returns `dir`.
inline std::string makeImages(const std::string& dir, const std::string& split, int images, uint64_t seed,
                              int questions_per_image = 6, bool masks = false) {
  vqa::synth::GenerateOptions g;
  g.out_dir = dir;
  g.images = images;
  g.split = split;
  g.seed = seed;
  g.questions_per_image = questions_per_image;
  g.threads = 2;
  g.render.width = 240;
  g.render.height = 160;
  g.render.threads = 2;
  g.write_masks = masks;
  std::ostringstream log;
  vqa::synth::generateDataset(g, log);
  return dir;
}

}  // namespace vqa::testing
