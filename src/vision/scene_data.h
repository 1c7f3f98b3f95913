// Training and evaluation data for the scene parser: a CLEVR-layout folder (images/<split>/...,
// scenes/CLEVR_<split>_scenes.json, optionally the generator's object masks masks/<split>/...), per-image
// targets, and a loader that decodes and augments batches on worker threads ahead of the training step.
// Images are read when a batch needs them, never all at once.
#pragma once
#include <ATen/ATen.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/scene_graph.h"

namespace vqa::vision {

struct SceneRecord {
  std::string image_path;
  SceneGraph scene;
  std::string mask_path;  // its object mask, when the dataset has a masks folder (the file may still be missing)
};

struct SceneDataset {
  std::string scenes_path;
  std::vector<SceneRecord> records;
  int missing_images = 0;  // scene records whose image file does not exist (skipped when allowed)
  std::string masks_dir;   // DIR/masks/<split> when that folder exists (`vqa generate --masks`), else empty
};

// Reads DIR/scenes/CLEVR_<split>_scenes.json (or scenes_file when not empty) and pairs each record with
// DIR/images/<split>/<image_filename>. A record without its image is an error unless allow_missing, then it
// is left out and counted. Objects must carry pixel_coords and the four attributes. Object masks, when the
// folder has them, are DIR/masks/<split>/<image_filename>: 8-bit, each pixel the index + 1 of the object it
// shows (0 = ground).
SceneDataset openSceneDataset(const std::string& dir, const std::string& split, const std::string& scenes_file = "",
                              bool allow_missing = false);

struct LoaderOptions {
  int batch_size = 16;
  int input_width = 240, input_height = 160;  // the network's input; centres and heatmaps are in its pixels
  int image_scale = 1;  // images are given at image_scale x the input size (SceneParserOptions::imageScale)
  int output_stride = 4;
  int max_objects = 12;
  int threads = 2;      // decoding threads
  int prefetch = 4;     // batches decoded ahead
  bool augment = false; // photometric jitter, blur and noise (deterministic per seed, step and image)
  bool flip = false;    // mirror about half the images left-right: pixels, object mask and centres (same rule)
  // Copy-paste (needs object masks): about two images in three get one or two objects of other images of the
  // split, each an object no other touches in its own image, pasted at its own pixels in depth order (nearer
  // objects here keep their pixels), clear in 3-D of the objects here, and only where every object keeps
  // CLEVR's minimum visible pixels and the scene stays within 10 objects. Labels, centre and mask follow.
  bool paste = false;
  // With paste: only pastes that partly hide an object here or are partly hidden by one (the half-hidden objects
  // are where a parser errs most). Each still keeps CLEVR's minimum visible pixels.
  bool paste_occlude = false;
  bool object_ids = false;  // also read each image's object mask into SceneBatch::object_ids
  uint64_t seed = 0;
  double heatmap_sigma = 0.8;  // Gaussian of the centre heatmap, in output cells
};

// One batch. Centres are in input pixels; labels are value indices per attribute (vocab order), -1 on padding.
struct SceneBatch {
  at::Tensor images;     // [B, 3, H, W] float in [0, 1], H and W image_scale x the input size
  at::Tensor heatmap;    // [B, 1, H/stride, W/stride] Gaussian centre targets, 1 at each centre cell
  at::Tensor centers;    // [B, N, 2]
  at::Tensor labels;     // [B, N, 4] int64
  at::Tensor mask;       // [B, N] 1 for objects
  at::Tensor positions;  // [B, N, 3] 3d_coords
  at::Tensor object_ids; // [B, 1, H, W] float: each pixel's object index + 1, 0 = ground (object_ids only)
  std::vector<int> indices;         // dataset indices
  std::vector<int> image_widths;    // original widths (pixel_coords scale = image_width / input width)
  std::vector<bool> flipped;        // mirrored left-right (LoaderOptions::flip)
  // Per image, the objects pasted into it (LoaderOptions::paste), in order: {dataset index, object index}.
  // A pasted object is the image's object scene.size() + k, its mask value that + 1.
  std::vector<std::vector<std::pair<int, int>>> pasted;
};

// Builds one batch from dataset records (used by the loader's threads; also directly by tests).
// `step` only seeds the augmentation and the flips. Throws std::runtime_error("PATH: problem") for a bad image or mask.
SceneBatch buildSceneBatch(const SceneDataset& data, const std::vector<int>& indices, const LoaderOptions& options,
                           int64_t step);

// Decodes batches on worker threads, in order, `prefetch` batches ahead of the consumer.
// order(k) gives the dataset indices of batch k; batches first .. first + count - 1 are produced.
class BatchLoader {
 public:
  using Order = std::function<std::vector<int>(int64_t batch)>;
  BatchLoader(const SceneDataset& data, LoaderOptions options, Order order, int64_t first, int64_t count);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  // The next batch in order; rethrows a worker's error as std::runtime_error.
  SceneBatch next();

 private:
  void work();
  const SceneDataset& data_;
  LoaderOptions options_;
  Order order_;
  int64_t next_claim_, next_take_, end_;
  bool stop_ = false;
  std::map<int64_t, SceneBatch> ready_;
  std::map<int64_t, std::string> errors_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread> workers_;
};

// Shuffled training order: epoch e is a permutation of [0, n) seeded by (seed, e); each epoch has
// n / batch_size full batches.
std::vector<int> trainingBatch(int64_t batch, int n, int batch_size, uint64_t seed);

}  // namespace vqa::vision
