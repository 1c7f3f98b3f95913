// SceneParser: image -> SoftScene. A small convolutional network trained from scratch predicts a centre
// heatmap at stride 4 of its input (240x160 by default: 8 px of a 480x320 image) with per-location offset
// and slot-feature heads; heatmap peaks become object slots
// (top-N with their existence probability). Slots exchange context through Hopfield self-attention
// (src/hopfield, Softmax_1 unless another association is chosen), and each attribute distribution is a
// Hopfield retrieval against learned concept prototypes. 3-D positions come from back-projecting each
// centre onto CLEVR's ground plane at the height its predicted size implies; relations follow from
// positions by CLEVR's rule, made soft.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "executor/soft_scene.h"
#include "hopfield/hopfield.h"
#include "vision/ground_plane.h"

namespace vqa::vision {

struct SceneParserOptions {
  int64_t input_width = 240;   // images are resized to this (CLEVR's 480x320 halved)
  int64_t input_height = 160;
  int64_t channels = 24;       // backbone width at stride 2 (doubles at each further stride)
  int64_t slot_size = 64;      // slot feature width
  int64_t prototype_size = 32; // concept prototype width
  int64_t heads = 4;
  int64_t max_objects = 12;    // slots per image (CLEVR has at most 10 objects)
  std::string attention = "softmax1";  // softmax1 | softmax | clipped | gated
  double detection_threshold = 0.5;
  double relation_sharpness = 50.0;
  // > 0: each slot also sees a crop_size x crop_size patch of the image at twice the input resolution,
  // centred on it and scaled to the object's apparent size at that depth (a small CNN encodes it). Images
  // are then given at imageWidth() x imageHeight() and halved (2x2 mean, as INTER_AREA) for the backbone.
  int64_t crop_size = 32;
  // How the crop CNN's final map becomes one vector: "grid" keeps its layout (average-pooled to a 4x4 grid,
  // flattened), so the slot knows what lies at the centre of its crop and what in front of or beside it;
  // "mean" averages it away (the parsers before this option).
  std::string crop_readout = "grid";
  // true: the crop CNN also predicts which pixels of its crop belong to the slot's own object (its visible
  // mask, at a quarter of the crop's side), learnt from the generator's object masks; the crop features
  // pooled under that mask join the read-out, so a partly hidden object is read from what shows of it.
  bool crop_mask = false;
  // The crop CNN's first stage. "full": a 3x3 convolution at the crop's full resolution, then a stride-2 one
  // (the parsers before this option). "space-to-depth": each 2x2 block of pixels becomes 12 channels and one 3x3
  // convolution reads them at half resolution: the same input, no full-resolution feature maps (which bound
  // the crop branch's speed on a CPU).
  std::string crop_stem = "full";
  // A crop's side in scene units at the object's depth (for a mid-sized object there): 2.8 holds a large object
  // and its neighbours' edges; a smaller window gives each object more of the crop's pixels (a small object is
  // 0.7 units across) and less of its surroundings.
  double crop_window = 2.8;
  // true: each BatchNorm is folded into the convolution before it (the convolutions carry biases and there are
  // no norm layers), as a quantized model is stored; foldBatchNorms makes such a parser from a trained one.
  bool folded_norms = false;
  // true: parse() also reads each detected object's attributes from the image mirrored left-right, at its
  // mirrored centre, and averages the two distributions; the objects are the image's own. About twice the
  // inference cost. An inference setting (vqa eval-scenes / eval / ask --mirror-average).
  bool mirror_average = false;

  static constexpr int64_t kOutputStride = 4;
  static constexpr int64_t kCropGrid = 4;           // the "grid" read-out's cells per side
  int64_t imageScale() const { return crop_size > 0 ? 2 : 1; }
  int64_t imageWidth() const { return input_width * imageScale(); }    // the size images are given at
  int64_t imageHeight() const { return input_height * imageScale(); }
  nlohmann::json toJson() const;
  static SceneParserOptions fromJson(const nlohmann::json& j);  // throws std::runtime_error on bad values
  void check() const;                                           // throws std::runtime_error("option: problem")
};

// Dense outputs at stride 4: heatmap logits [B, 1, h, w], offsets within the cell [B, 2, h, w] (sigmoid),
// slot features [B, slot_size, h, w].
struct DenseOutputs {
  at::Tensor heatmap_logits, offsets, features;
};

// Per-slot outputs for slots at given centres: one distribution per attribute group, the slot features
// after context.
struct SlotOutputs {
  std::vector<at::Tensor> attributes;  // [B, N, V_a] probabilities
  at::Tensor features;                 // [B, N, slot_size]
  // With crop_mask, for the K slots that were cropped (slot_mask > 0.5): the visible-mask logits
  // [K, 1, crop_size / 4, crop_size / 4], where every slot's crop is sampled from (grid_sample's grid
  // [B, N, S, S, 2] over its image, kept slots or not) and the flat slot index b * N + n of each kept slot.
  at::Tensor mask_logits, crop_grid, cropped_slots;
};

// Object slots from the dense outputs: the top max_objects local maxima (3x3) of the heatmap (of tied neighbours,
// the first in reading order), their existence probability [B, N] and centres [B, N, 2] in input pixels
// ((cell + offset) * stride).
struct Peaks {
  at::Tensor existence, centers;
};
Peaks decodePeaks(const at::Tensor& heatmap_logits, const at::Tensor& offsets, int64_t max_objects);

// How slot windows are sampled: kImage bilinear with the border pixels repeated outside the image, kLabels
// (object-id maps) nearest with 0 outside.
enum class WindowSampling { kImage, kLabels };

// The S x S windows [K, C, S, S] of the kept slots (keep: flat slot indices b * N + n) from their own images
// (source [B, C, H, W]), where grid [B, N, S, S, 2] is grid_sample's normalised grid (align_corners = false)
// of every slot. Each image is sampled once for all its slots, as one [N * S, S] grid, rather than copied once
// per slot; the result is that of sampling each slot's window from its own image.
at::Tensor sampleSlotWindows(const at::Tensor& source, const at::Tensor& grid, const at::Tensor& keep,
                             WindowSampling sampling);

// scene.mask is each slot's existence probability; scene.relations are computed for every pair of slots
// (combine them with the mask); scene.features are the slot features after context.
struct SceneParse {
  SoftScene scene;
  at::Tensor centers;   // [B, N, 2] in input pixels
};

struct ParserLosses {
  at::Tensor total, heatmap, offset, attributes;
  at::Tensor mask;  // the visible-mask loss (zero without crop_mask or object ids)
};

class SceneParser;

class SceneParserImpl : public torch::nn::Module {
 public:
  explicit SceneParserImpl(SceneParserOptions options);

  // images [B, 3, imageHeight, imageWidth] in [0, 1].
  DenseOutputs dense(const at::Tensor& images);
  // centers [B, N, 2] in input pixels; slot_mask [B, N] (1 = object) keeps padding out of the context;
  // images as given to dense() (the crops come from them).
  SlotOutputs slots(const at::Tensor& features, const at::Tensor& centers, const at::Tensor& slot_mask,
                    const at::Tensor& images);
  // Full inference: images [B, 3, imageHeight, imageWidth] in [0, 1].
  SceneParse parse(const at::Tensor& images);
  // Training losses against batch targets (centres, labels, mask, heatmap, object ids as in scene_data.h).
  // With crop_mask and object_ids given, the crops' predicted visible masks learn from the object ids.
  ParserLosses losses(const at::Tensor& images, const at::Tensor& heatmap, const at::Tensor& centers,
                      const at::Tensor& labels, const at::Tensor& mask, const at::Tensor& object_ids = at::Tensor());

  const SceneParserOptions& options() const { return options_; }
  // The existence probability a peak needs to become an object (throws std::runtime_error outside (0, 1)).
  void setDetectionThreshold(double threshold);
  void setMirrorAverage(bool on) { options_.mirror_average = on; }
  const GroundPlane& groundPlane() const { return ground_; }
  // Tracks the slots' context block (hopfield::TransformerBlock) as PREFIX.context (null: stop).
  void track_outliers(hopfield::OutlierStats* stats, const std::string& prefix);

 private:
  at::Tensor conv_block(int index, const at::Tensor& x);
  at::Tensor sample(const at::Tensor& map, const at::Tensor& centers) const;  // [B, C, h, w] -> [B, N, C]
  // The crop branch: [B, N, slot_size] features of each slot's patch (zero for slots outside slot_mask), and
  // with crop_mask the mask logits, grid and slot indices of SlotOutputs.
  at::Tensor cropFeatures(const at::Tensor& images, const at::Tensor& centers, const at::Tensor& slot_mask,
                          SlotOutputs& crops);

  SceneParserOptions options_;
  GroundPlane ground_;
  // conv -> BatchNorm -> ReLU, or the folded conv with its ReLU.
  at::Tensor convNormRelu(hopfield::QuantConv2dImpl& conv, torch::nn::BatchNorm2dImpl* norm, const at::Tensor& x);
  static torch::nn::BatchNorm2dImpl* normAt(torch::nn::ModuleList list, size_t index);

  friend SceneParser foldBatchNorms(SceneParserImpl& parser);

  torch::nn::ModuleList convs{nullptr}, norms{nullptr};  // norms: none when folded
  hopfield::QuantConv2d fuse{nullptr}, fuse_refine{nullptr}, heat_hidden{nullptr}, heat_out{nullptr},
      offset_out{nullptr}, feature_out{nullptr};
  torch::nn::BatchNorm2d fuse_norm{nullptr}, refine_norm{nullptr};
  hopfield::QuantLinear slot_input{nullptr}, crop_out{nullptr};
  hopfield::QuantConv2d crop_mask_hidden{nullptr}, crop_mask_out{nullptr};
  torch::nn::ModuleList crop_convs{nullptr}, crop_norms{nullptr};
  hopfield::TransformerBlock context{nullptr};
  torch::nn::ModuleList concept_queries{nullptr};
  std::vector<hopfield::Hopfield> concept_memories;
  std::vector<at::Tensor> prototypes;  // [1, V_a, prototype_size] learned concept prototypes
  std::vector<at::Tensor> value_codes; // [1, V_a, V_a] identity: retrieval returns the distribution itself
};
TORCH_MODULE(SceneParser);

// A parser equal to `parser` in eval mode with every BatchNorm folded into its convolution (weights scaled per
// output channel, the shift as bias): the form a quantized model calibrates and stores.
SceneParser foldBatchNorms(SceneParserImpl& parser);

// The vocabularies a model file records (attribute groups and relations, vocab.h order).
nlohmann::json sceneVocabularies();

}  // namespace vqa::vision
