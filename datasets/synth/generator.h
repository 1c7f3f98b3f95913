// Writes a CLEVR v1.0 dataset folder: sampled scenes rendered to images/<split>/CLEVR_<split>_NNNNNN.png,
// scenes/CLEVR_<split>_scenes.json and questions/CLEVR_<split>_questions.json, and optionally the object masks
// masks/<split>/CLEVR_<split>_NNNNNN.png (8-bit: the index + 1 of the object each pixel sees, 0 for the ground;
// primary rays through pixel centres, sharp cube edges). The folder appears whole or
// not at all: everything is written into a temporary folder beside it, which is renamed into place.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>

#include "datasets/synth/ray_tracer.h"
#include "datasets/synth/question_engine.h"
#include "datasets/synth/scene_sampler.h"

namespace vqa::synth {

struct GenerateOptions {
  std::string out_dir;
  int images = 10;
  std::string split = "train";
  uint64_t seed = 0;
  int questions_per_image = 10;
  int threads = 2;
  std::string templates;       // template folder; empty = the project's own set
  bool render_images = true;   // false: scenes and questions only
  bool write_masks = false;    // also masks/<split>/<image name>: each pixel's object (index + 1, 0 = ground)
  bool overwrite = false;      // replace an existing non-empty out_dir (otherwise that is an error)
  RenderSettings render;       // width/height also set the pixel_coords scale
  SamplerOptions sampler;
  QuestionEngineOptions engine;
};

struct GenerateStats {
  int images = 0;
  long questions = 0;
  double seconds = 0, scene_seconds = 0, question_seconds = 0;
  int families_total = 0, families_used = 0;
};

// Limits of the numeric options, shared with the `vqa generate` command line.
constexpr int kMaxImages = 100000;  // CLEVR v1.0's largest split has 70,000
constexpr int kMaxQuestionsPerImage = 1000;
constexpr int kMaxThreads = 256;

// Throws std::runtime_error("--option: problem") for an option out of range, a split that is not a plain
// name, or an out_dir that is a file or a non-empty folder without `overwrite`. Does no work.
void checkGenerateOptions(const GenerateOptions& options);

// Deterministic for a seed (whatever the thread count). Progress goes to `log`: a self-updating line on
// a terminal, plain periodic lines otherwise. On any error the temporary folder is removed and out_dir is
// left as it was.
GenerateStats generateDataset(const GenerateOptions& options, std::ostream& log);

// The file name CLEVR gives image i of a split: CLEVR_<split>_NNNNNN.png.
std::string clevrImageName(const std::string& split, int index);

// The object mask of a sampled scene at its camera's size (8-bit, index + 1 per pixel, 0 = ground).
cv::Mat objectMask(const SampledScene& scene);

// Encodes a PNG and writes it with writeFileAtomic; throws naming the path.
void writePngAtomic(const std::string& path, const cv::Mat& image);

}  // namespace vqa::synth
