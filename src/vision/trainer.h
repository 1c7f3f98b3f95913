// Training the scene parser on CLEVR-layout scene annotations, and the scene parser's model file: kind,
// format version, options, vocabularies, weights, and (in checkpoints) the optimizer state and step so
// that a resumed run continues exactly as an uninterrupted one.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

#include "training/model_file.h"
#include "vision/scene_parser.h"

namespace vqa::vision {

using training::ModelFile;
using training::NamedTensors;

constexpr const char* kSceneParserKind = "vqa-scene-parser";
constexpr int kSceneParserFormatVersion = 1;

struct TrainVisionOptions {
  std::string data_dir, out_path;
  std::string split = "train", val_split = "val";
  std::string val_data_dir;  // folder of the validation split; default data_dir
  std::string log_path;     // metrics log (JSON lines); default OUT.metrics.jsonl
  std::string curves_path;  // PNG of the curves; default OUT.curves.png
  int epochs = 0;           // one of epochs / steps; both 0: 10 epochs
  int64_t steps = 0;
  int64_t stop_at = 0;      // > 0: checkpoint and stop after this step (the run can be resumed later)
  int batch_size = 16;
  double learning_rate = 2e-3;
  double weight_decay = 1e-4;
  uint64_t seed = 0;
  int threads = 1;          // torch intra-op threads
  int loader_threads = 2;   // image decoding threads
  bool resume = false;
  std::string init_path;    // a fresh run starts from this scene parser's weights where names and shapes match
  bool augment = true;
  bool flip = false;        // mirror about half the training images left-right (LoaderOptions::flip)
  bool paste = false;       // copy objects between training images (LoaderOptions::paste; needs object masks)
  bool paste_occlude = false;  // only pastes that overlap an object on screen (LoaderOptions::paste_occlude)
  double checkpoint_seconds = 120;
  double log_seconds = 10;
  int val_images = 100;     // validation images per checkpoint (0: no validation)
  SceneParserOptions model;
};

struct TrainVisionResult {
  int64_t steps = 0, start_step = 0;
  double seconds = 0, last_loss = 0;
  nlohmann::json last_validation;
};

// Throws std::runtime_error("--option: problem") for an option out of range. Does no work.
void checkTrainVisionOptions(const TrainVisionOptions& options);

// Trains (or resumes) and writes OUT atomically at every checkpoint and at the end. Progress lines go to `log`.
TrainVisionResult trainSceneParser(const TrainVisionOptions& options, std::ostream& log);

// Writes a scene parser (and, when `training` is an object, the optimizer state in `extra`) atomically.
void saveSceneParser(const std::string& path, SceneParser& parser, const nlohmann::json& training = nullptr,
                     const NamedTensors& extra = {});

struct LoadedSceneParser {
  SceneParser parser{nullptr};
  ModelFile file;  // header and every tensor (optimizer state included)
};
// Throws std::runtime_error("PATH: problem") for a missing, foreign, wrong-version, truncated or corrupt file.
LoadedSceneParser loadSceneParser(const std::string& path);

}  // namespace vqa::vision
