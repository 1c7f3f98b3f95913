// CLEVR-layout data for the scene parser: records, batch targets, augmentation and the threaded loader.
#include "vision/scene_data.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "core/errors.h"
#include "core/vocab.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/scene_sampler.h"
#include "vision/ground_plane.h"
#include "vision/image_io.h"

namespace vqa::vision {

namespace {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

// Photometric changes only (geometry stays exact): gain, per-channel tint, contrast, blur and sensor noise.
void augment(cv::Mat& rgb_float, uint64_t seed, double pixel_scale) {
  cv::RNG rng(seed);
  const double gain = rng.uniform(0.85, 1.15), contrast = rng.uniform(0.85, 1.15);
  const cv::Scalar tint(rng.uniform(0.95, 1.05), rng.uniform(0.95, 1.05), rng.uniform(0.95, 1.05));
  const cv::Scalar mean = cv::mean(rgb_float);
  rgb_float = (rgb_float - mean) * contrast + mean;
  cv::multiply(rgb_float, tint * gain, rgb_float);
  if (rng.uniform(0.0, 1.0) < 0.3) cv::GaussianBlur(rgb_float, rgb_float, cv::Size(0, 0), rng.uniform(0.3, 1.0) * pixel_scale);
  const double noise = rng.uniform(0.0, 0.025);
  if (noise > 0.002) {
    cv::Mat n(rgb_float.size(), rgb_float.type());
    rng.fill(n, cv::RNG::NORMAL, 0.0, noise);
    rgb_float += n;
  }
}

// An object mask as written by `vqa generate --masks`: 8-bit, the size of its image.
cv::Mat readObjectMask(const std::string& path, const std::string& image_path, const cv::Size& image_size) {
  if (path.empty()) throw std::runtime_error(image_path + ": no object mask (the dataset has no masks folder)");
  cv::Mat mask = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (mask.empty()) throw std::runtime_error(path + ": missing or not an image (an object mask)");
  if (mask.type() != CV_8UC1) throw std::runtime_error(path + ": an object mask must be an 8-bit grey PNG");
  if (mask.size() != image_size)
    throw std::runtime_error(path + ": " + std::to_string(mask.cols) + "x" + std::to_string(mask.rows) +
                             ", but its image is " + std::to_string(image_size.width) + "x" +
                             std::to_string(image_size.height));
  return mask;
}

// An object mask as a [1, H, W] float tensor at `size` (nearest neighbour when it differs).
at::Tensor maskTensor(cv::Mat mask, const cv::Size& size) {
  if (mask.size() != size) cv::resize(mask, mask, size, 0, 0, cv::INTER_NEAREST);
  at::Tensor t = at::empty({1, size.height, size.width}, at::kFloat);
  cv::Mat view(size.height, size.width, CV_32FC1, t.data_ptr<float>());
  mask.convertTo(view, CV_32FC1);
  return t;
}

double objectRadius(const SceneObject& o) {
  return o.attributes.at("size") == "large" ? kLargeRadius : kSmallRadius;
}

// LoaderOptions::paste for one image: `bgr` and its mask `ids` (full resolution) change in place, `objects`
// (the image's own first) grows. Returns what was pasted, {dataset index, object index} each. With `occlude`
// (LoaderOptions::paste_occlude) only a paste that hides part of an object here, or is partly hidden by one, is
// kept.
std::vector<std::pair<int, int>> pasteObjects(const SceneDataset& data, int self, cv::Mat& bgr, cv::Mat& ids,
                                              std::vector<const SceneObject*>& objects, int max_objects,
                                              bool occlude, uint64_t seed) {
  // Overlapping places are rarer than clear ones: more tries, most of them rejected before any image is read.
  const int kAttempts = occlude ? 32 : 6;
  const synth::SamplerOptions rules;  // the generator's (CLEVR's) object count, spacing and visibility
  // Centres farther apart on screen than this (in pixel_coords, 480 wide; a large near object spans about 90)
  // rarely meet.
  constexpr double kReach = 70.0;
  const double min_pixels =
      static_cast<double>(rules.min_pixels) * bgr.cols * bgr.rows / (static_cast<double>(rules.width) * rules.height);
  std::mt19937_64 rng(seed);
  const int wanted = static_cast<int>(rng() % 3);  // 0, 1 or 2 objects
  std::vector<std::pair<int, int>> pasted;
  const int n = static_cast<int>(data.records.size());
  for (int attempt = 0; attempt < kAttempts && static_cast<int>(pasted.size()) < wanted; ++attempt) {
    const int d = static_cast<int>(rng() % static_cast<uint64_t>(n));
    const SceneRecord& donor = data.records[static_cast<size_t>(d)];
    const int objects_there = donor.scene.size();
    const uint64_t pick = rng();
    if (d == self || objects_there == 0) continue;
    if (static_cast<int>(objects.size()) >= std::min(rules.max_objects, max_objects)) break;
    const int j = static_cast<int>(pick % static_cast<uint64_t>(objects_there));
    const SceneObject& candidate = donor.scene.object(j);
    if (occlude) {
      bool near_one = false;
      for (const SceneObject* o : objects)
        near_one = near_one || std::hypot(o->pixel[0] - candidate.pixel[0], o->pixel[1] - candidate.pixel[1]) < kReach;
      if (!near_one) continue;
    }
    // Clear in 3-D of every object here (same world frame; the cameras differ only by CLEVR's jitter).
    bool clear = true;
    for (const SceneObject* o : objects) {
      const double dx = o->coords[0] - candidate.coords[0], dy = o->coords[1] - candidate.coords[1];
      clear = clear && std::sqrt(dx * dx + dy * dy) >= objectRadius(*o) + objectRadius(candidate) + rules.min_dist;
    }
    if (!clear) continue;
    cv::Mat donor_bgr = readSceneImage(donor.image_path);
    if (donor_bgr.size() != bgr.size()) continue;
    const cv::Mat donor_ids = readObjectMask(donor.mask_path, donor.image_path, donor_bgr.size());
    const cv::Mat shape = donor_ids == j + 1;
    if (cv::countNonZero(shape) < min_pixels) continue;
    // Whole in its own image: no other object within 2 pixels of it (it hides nothing and nothing hides it).
    cv::Mat near;
    cv::dilate(shape, near, cv::Mat::ones(5, 5, CV_8U));
    if (cv::countNonZero(near & (donor_ids != 0) & (donor_ids != j + 1)) > 0) continue;
    // Depth order: the pixels of objects here that are nearer the camera stay theirs.
    cv::Mat paint = shape.clone();
    for (size_t k = 0; k < objects.size(); ++k)
      if (objects[k]->pixel[2] < candidate.pixel[2]) paint &= ids != static_cast<int>(k + 1);
    const int painted = cv::countNonZero(paint);
    bool visible = painted >= min_pixels, overlaps = painted < cv::countNonZero(shape);
    for (size_t k = 0; k < objects.size() && visible; ++k) {
      const cv::Mat own = ids == static_cast<int>(k + 1);
      const int before = cv::countNonZero(own), covered = cv::countNonZero(own & paint);
      visible = covered == 0 || before - covered >= min_pixels;
      overlaps = overlaps || covered > 0;
    }
    if (!visible || (occlude && !overlaps)) continue;
    donor_bgr.copyTo(bgr, paint);
    ids.setTo(static_cast<int>(objects.size() + 1), paint);
    objects.push_back(&candidate);
    pasted.emplace_back(d, j);
  }
  return pasted;
}

at::Tensor toTensor(const cv::Mat& rgb_float) {
  const int h = rgb_float.rows, w = rgb_float.cols;
  at::Tensor t = at::empty({h, w, 3}, at::kFloat);
  for (int y = 0; y < h; ++y)
    std::memcpy(t.data_ptr<float>() + static_cast<size_t>(y) * w * 3, rgb_float.ptr<float>(y),
                static_cast<size_t>(w) * 3 * sizeof(float));
  return t.permute({2, 0, 1}).clamp(0.0, 1.0).contiguous();
}

}  // namespace

SceneDataset openSceneDataset(const std::string& dir, const std::string& split, const std::string& scenes_file,
                              bool allow_missing) {
  namespace fs = std::filesystem;
  SceneDataset data;
  data.scenes_path = scenes_file.empty() ? dir + "/scenes/CLEVR_" + split + "_scenes.json" : scenes_file;
  ClevrScenes scenes = readClevrScenes(data.scenes_path);
  const std::string image_dir = dir + "/images/" + split + "/";
  {
    std::error_code ec;
    if (fs::is_directory(dir + "/masks/" + split, ec)) data.masks_dir = dir + "/masks/" + split;
  }
  for (size_t k = 0; k < scenes.scenes.size(); ++k) {
    SceneGraph& s = scenes.scenes[k];
    const std::string record = "scene " + std::to_string(k) + " (" + excerpt(s.image_filename) + ")";
    if (s.image_filename.empty()) throw InputError(data.scenes_path, record, "no image_filename");
    for (int i = 0; i < s.size(); ++i) {
      const SceneObject& o = s.object(i);
      for (auto a : clevr::attributes()) {
        auto it = o.attributes.find(clevr::attributeName(a));
        if (it == o.attributes.end() || clevr::valueIndex(a, it->second) < 0)
          throw InputError(data.scenes_path, record,
                           "object " + std::to_string(i) + ": missing or unknown " + clevr::attributeName(a));
      }
    }
    const std::string path = image_dir + s.image_filename;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      if (allow_missing) {
        ++data.missing_images;
        continue;
      }
      throw InputError(data.scenes_path, record, "image " + path + " not found");
    }
    std::string mask_path = data.masks_dir.empty() ? std::string() : data.masks_dir + "/" + s.image_filename;
    data.records.push_back({path, std::move(s), std::move(mask_path)});
  }
  return data;
}

SceneBatch buildSceneBatch(const SceneDataset& data, const std::vector<int>& indices, const LoaderOptions& o,
                           int64_t step) {
  const int64_t B = static_cast<int64_t>(indices.size()), N = o.max_objects;
  const int64_t gh = o.input_height / o.output_stride, gw = o.input_width / o.output_stride;
  SceneBatch batch;
  batch.images = at::empty({B, 3, o.input_height * o.image_scale, o.input_width * o.image_scale});
  batch.heatmap = at::zeros({B, 1, gh, gw});
  batch.centers = at::zeros({B, N, 2});
  batch.labels = at::full({B, N, clevr::kNumAttributes}, -1, at::kLong);
  batch.mask = at::zeros({B, N});
  batch.positions = at::zeros({B, N, 3});
  if (o.object_ids) batch.object_ids = at::empty({B, 1, batch.images.size(2), batch.images.size(3)});
  auto heat = batch.heatmap.accessor<float, 4>();
  auto centers = batch.centers.accessor<float, 3>();
  auto labels = batch.labels.accessor<int64_t, 3>();
  auto mask = batch.mask.accessor<float, 2>();
  auto positions = batch.positions.accessor<float, 3>();
  const double sigma = o.heatmap_sigma;
  for (int64_t b = 0; b < B; ++b) {
    const int index = indices[static_cast<size_t>(b)];
    const SceneRecord& r = data.records.at(static_cast<size_t>(index));
    cv::Mat bgr = readSceneImage(r.image_path);
    batch.indices.push_back(index);
    batch.image_widths.push_back(bgr.cols);
    const uint64_t image_seed = mix(mix(o.seed, static_cast<uint64_t>(step)), static_cast<uint64_t>(b));
    cv::Mat ids;
    if (o.object_ids || o.paste) ids = readObjectMask(r.mask_path, r.image_path, bgr.size());
    std::vector<const SceneObject*> objects;
    for (int i = 0; i < r.scene.size(); ++i) objects.push_back(&r.scene.object(i));
    if (r.scene.size() > N)
      throw std::runtime_error(r.image_path + ": " + std::to_string(r.scene.size()) + " objects, more than the " +
                               std::to_string(N) + " slots");
    batch.pasted.push_back(o.paste ? pasteObjects(data, index, bgr, ids, objects, static_cast<int>(N),
                                                  o.paste_occlude, mix(image_seed, 0xC0B1E5ull))
                                   : std::vector<std::pair<int, int>>{});
    cv::Mat resized, rgb, rgb_float;
    const cv::Size size(o.input_width * o.image_scale, o.input_height * o.image_scale);
    if (bgr.size() == size) resized = bgr;
    else cv::resize(bgr, resized, size, 0, 0, cv::INTER_AREA);
    // A mirrored CLEVR scene is another CLEVR scene: attributes hold, centres mirror, relations are not learnt.
    const bool flipped = o.flip && (mix(image_seed, 0xF119ull) & 1) != 0;
    if (flipped) cv::flip(resized, resized, 1);
    cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
    rgb.convertTo(rgb_float, CV_32FC3, 1.0 / 255.0);
    if (o.augment) augment(rgb_float, image_seed, o.image_scale);
    batch.images[b] = toTensor(rgb_float);
    if (o.object_ids) {
      at::Tensor t = maskTensor(ids, size);
      batch.object_ids[b] = flipped ? t.flip({2}) : t;
    }
    batch.flipped.push_back(flipped);

    const double scale = static_cast<double>(o.input_width) / bgr.cols;
    for (int64_t i = 0; i < static_cast<int64_t>(objects.size()); ++i) {
      const SceneObject& obj = *objects[static_cast<size_t>(i)];
      const double x = (flipped ? mirroredX(obj.pixel[0], bgr.cols) : obj.pixel[0]) * scale, y = obj.pixel[1] * scale;
      centers[b][i][0] = static_cast<float>(x);
      centers[b][i][1] = static_cast<float>(y);
      mask[b][i] = 1.0f;
      for (int k = 0; k < 3; ++k) positions[b][i][k] = static_cast<float>(obj.coords[static_cast<size_t>(k)]);
      for (auto a : clevr::attributes())
        labels[b][i][static_cast<int>(a)] = clevr::valueIndex(a, obj.attributes.at(clevr::attributeName(a)));
      // Gaussian around the centre cell (peak exactly 1 there), max over objects.
      const double cx = x / o.output_stride, cy = y / o.output_stride;
      const int64_t ix = std::clamp<int64_t>(static_cast<int64_t>(std::floor(cx)), 0, gw - 1);
      const int64_t iy = std::clamp<int64_t>(static_cast<int64_t>(std::floor(cy)), 0, gh - 1);
      const int radius = static_cast<int>(std::ceil(3 * sigma));
      for (int64_t yy = std::max<int64_t>(0, iy - radius); yy <= std::min<int64_t>(gh - 1, iy + radius); ++yy)
        for (int64_t xx = std::max<int64_t>(0, ix - radius); xx <= std::min<int64_t>(gw - 1, ix + radius); ++xx) {
          const double d2 = static_cast<double>((xx - ix) * (xx - ix) + (yy - iy) * (yy - iy));
          const float g = static_cast<float>(std::exp(-d2 / (2 * sigma * sigma)));
          heat[b][0][yy][xx] = std::max(heat[b][0][yy][xx], g);
        }
    }
  }
  return batch;
}

BatchLoader::BatchLoader(const SceneDataset& data, LoaderOptions options, Order order, int64_t first, int64_t count)
    : data_(data), options_(options), order_(std::move(order)), next_claim_(first), next_take_(first),
      end_(first + count) {
  const int threads = std::max(1, options_.threads);
  for (int t = 0; t < threads; ++t) workers_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  for (auto& w : workers_) w.join();
}

void BatchLoader::work() {
  while (true) {
    int64_t k;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || next_claim_ >= end_ || next_claim_ < next_take_ + options_.prefetch; });
      if (stop_ || next_claim_ >= end_) return;
      k = next_claim_++;
    }
    SceneBatch batch;
    std::string error;
    try {
      batch = buildSceneBatch(data_, order_(k), options_, k);
    } catch (const std::exception& e) {
      error = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error.empty()) ready_[k] = std::move(batch);
      else errors_[k] = error;
    }
    changed_.notify_all();
  }
}

SceneBatch BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (next_take_ >= end_) throw std::runtime_error("batch loader: no batches left");
  const int64_t k = next_take_;
  changed_.wait(lock, [&] { return ready_.count(k) > 0 || errors_.count(k) > 0; });
  if (errors_.count(k)) throw std::runtime_error(errors_[k]);
  SceneBatch batch = std::move(ready_[k]);
  ready_.erase(k);
  ++next_take_;
  lock.unlock();
  changed_.notify_all();
  return batch;
}

std::vector<int> trainingBatch(int64_t batch, int n, int batch_size, uint64_t seed) {
  const int64_t per_epoch = std::max(1, n / batch_size);
  const int64_t epoch = batch / per_epoch, within = batch % per_epoch;
  std::vector<int> perm(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(mix(seed, static_cast<uint64_t>(epoch) + 1));
  for (int i = n - 1; i > 0; --i) std::swap(perm[static_cast<size_t>(i)], perm[rng() % static_cast<uint64_t>(i + 1)]);
  std::vector<int> out;
  for (int64_t k = 0; k < batch_size; ++k) out.push_back(perm[static_cast<size_t>((within * batch_size + k) % n)]);
  return out;
}

}  // namespace vqa::vision
