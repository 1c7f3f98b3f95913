// The scene parser network, its inference path (peaks -> slots -> SoftScene) and its training losses.
#include "vision/scene_parser.h"

#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/vision.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/init.h>

#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "core/vocab.h"
#include "hopfield/association.h"

namespace vqa::vision {

namespace F = torch::nn::functional;

nlohmann::json SceneParserOptions::toJson() const {
  return {{"input_width", input_width}, {"input_height", input_height}, {"channels", channels},
          {"slot_size", slot_size},     {"prototype_size", prototype_size}, {"heads", heads},
          {"max_objects", max_objects}, {"attention", attention}, {"detection_threshold", detection_threshold},
          {"relation_sharpness", relation_sharpness}, {"output_stride", kOutputStride}, {"crop_size", crop_size},
          {"crop_readout", crop_readout}, {"crop_mask", crop_mask}, {"crop_stem", crop_stem},
          {"crop_window", crop_window}, {"folded_norms", folded_norms}, {"mirror_average", mirror_average}};
}

SceneParserOptions SceneParserOptions::fromJson(const nlohmann::json& j) {
  SceneParserOptions o;
  try {
    o.input_width = j.at("input_width").get<int64_t>();
    o.input_height = j.at("input_height").get<int64_t>();
    o.channels = j.at("channels").get<int64_t>();
    o.slot_size = j.at("slot_size").get<int64_t>();
    o.prototype_size = j.at("prototype_size").get<int64_t>();
    o.heads = j.at("heads").get<int64_t>();
    o.max_objects = j.at("max_objects").get<int64_t>();
    o.attention = j.at("attention").get<std::string>();
    o.detection_threshold = j.at("detection_threshold").get<double>();
    o.relation_sharpness = j.at("relation_sharpness").get<double>();
    o.crop_size = j.value("crop_size", int64_t{0});  // models from before the crop branch have none
    o.crop_readout = j.value("crop_readout", std::string("mean"));  // parsers from before the option averaged
    o.crop_mask = j.value("crop_mask", false);  // parsers from before the option predict no masks
    o.crop_stem = j.value("crop_stem", std::string("full"));  // parsers from before the option
    o.crop_window = j.value("crop_window", 2.8);  // parsers from before the option
    o.folded_norms = j.value("folded_norms", false);
    o.mirror_average = j.value("mirror_average", false);
    if (j.at("output_stride").get<int64_t>() != kOutputStride) throw std::runtime_error("output stride differs");
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("scene parser options: ") + e.what());
  }
  o.check();
  return o;
}

void SceneParserOptions::check() const {
  auto range = [](const char* name, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      throw std::runtime_error(std::string(name) + ": must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                               "] (got " + std::to_string(v) + ")");
  };
  range("input width", input_width, 48, 1920);
  range("input height", input_height, 32, 1280);
  if (input_width % 8 != 0 || input_height % 8 != 0 || input_width * 2 != input_height * 3)
    throw std::runtime_error("input size: must be 3:2 and a multiple of 8 (got " + std::to_string(input_width) + "x" +
                             std::to_string(input_height) + ")");
  range("channels", channels, 4, 256);
  range("slot size", slot_size, 8, 1024);
  range("prototype size", prototype_size, 4, 1024);
  range("heads", heads, 1, 64);
  if (slot_size % heads != 0) throw std::runtime_error("heads: must divide the slot size");
  range("max objects", max_objects, 1, 64);
  if (crop_size != 0) range("crop size", crop_size, 8, 128);
  if (crop_size % 8 != 0) throw std::runtime_error("crop size: must be 0 (off) or a multiple of 8");
  if (crop_readout != "grid" && crop_readout != "mean")
    throw std::runtime_error("crop read-out: must be grid or mean (got " + crop_readout + ")");
  if (crop_stem != "full" && crop_stem != "space-to-depth")
    throw std::runtime_error("crop stem: must be full or space-to-depth (got " + crop_stem + ")");
  if (!(crop_window >= 1.0 && crop_window <= 8.0))
    throw std::runtime_error("crop window: must be in [1, 8] scene units (got " + std::to_string(crop_window) + ")");
  if (crop_mask && crop_size == 0) throw std::runtime_error("crop mask: needs the crop branch (a crop size > 0)");
  hopfield::parse_attention_kind(attention);  // throws std::invalid_argument (a runtime error) on bad names
  if (!(detection_threshold > 0.0 && detection_threshold < 1.0))
    throw std::runtime_error("detection threshold: must be in (0, 1)");
  if (!(relation_sharpness > 0.0 && relation_sharpness <= 1e4))
    throw std::runtime_error("relation sharpness: must be in (0, 10000]");
}

nlohmann::json sceneVocabularies() {
  nlohmann::json v = nlohmann::json::object();
  for (auto a : clevr::attributes()) v[clevr::attributeName(a)] = clevr::attributeValues(a);
  v["relations"] = clevr::relations();
  return v;
}

namespace {
hopfield::QuantConv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t dilation = 1,
                           bool bias = false) {
  hopfield::QuantConv2dOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.kernel = kernel;
  o.stride = stride;
  o.dilation = dilation;
  o.bias = bias;
  return hopfield::QuantConv2d(o);
}

// Coordinate channels x, y in [-1, 1] so that the network can relate apparent size to image height.
at::Tensor withCoordinates(const at::Tensor& images) {
  const int64_t B = images.size(0), H = images.size(2), W = images.size(3);
  at::Tensor xs = at::linspace(-1.0, 1.0, W, images.options()).view({1, 1, 1, W}).expand({B, 1, H, W});
  at::Tensor ys = at::linspace(-1.0, 1.0, H, images.options()).view({1, 1, H, 1}).expand({B, 1, H, W});
  return at::cat({images, xs, ys}, 1);
}
}  // namespace

SceneParserImpl::SceneParserImpl(SceneParserOptions options) : options_(std::move(options)) {
  options_.check();
  const int64_t c = options_.channels, s = options_.slot_size;
  // (in, out, stride, dilation): stride 2, 4, 8 stages; the last one dilated for a wide receptive field.
  const int64_t spec[7][4] = {{5, c, 2, 1},         {c, c, 1, 1},         {c, 2 * c, 2, 1}, {2 * c, 2 * c, 1, 1},
                              {2 * c, 4 * c, 2, 1}, {4 * c, 4 * c, 1, 1}, {4 * c, 4 * c, 1, 2}};
  const bool folded = options_.folded_norms;  // folded: convolutions carry the norms' shift as bias
  convs = register_module("convs", torch::nn::ModuleList());
  if (!folded) norms = register_module("norms", torch::nn::ModuleList());
  for (const auto& l : spec) {
    convs->push_back(conv(l[0], l[1], 3, l[2], l[3], folded));
    if (!folded) norms->push_back(torch::nn::BatchNorm2d(l[1]));
  }
  fuse = register_module("fuse", conv(6 * c, s, 1, 1, 1, folded));
  if (!folded) fuse_norm = register_module("fuse_norm", torch::nn::BatchNorm2d(s));
  fuse_refine = register_module("fuse_refine", conv(s, s, 3, 1, 1, folded));
  if (!folded) refine_norm = register_module("refine_norm", torch::nn::BatchNorm2d(s));
  heat_hidden = register_module("heat_hidden", conv(s, s, 3, 1, 1, true));
  heat_out = register_module("heat_out", conv(s, 1, 1, 1, 1, true));
  offset_out = register_module("offset_out", conv(s, 2, 1, 1, 1, true));
  feature_out = register_module("feature_out", conv(s, s, 1, 1, 1, true));
  torch::NoGradGuard no_grad;
  heat_out->bias.fill_(-2.19);  // prior 0.1, as CenterNet

  slot_input = register_module("slot_input", hopfield::QuantLinear(s + 2, s));
  if (options_.crop_size > 0) {
    // The crop CNN: three stride-2 stages (crop_size -> crop_size / 8), then the read-out (grid or mean).
    const int64_t k = std::max<int64_t>(16, c);
    // (in, out, stride). The space-to-depth stem replaces the first two with one at half resolution.
    std::vector<std::array<int64_t, 3>> crop_spec{{3, k, 1}, {k, k, 2}, {k, 2 * k, 1}, {2 * k, 2 * k, 2},
                                                  {2 * k, 4 * k, 1}, {4 * k, 4 * k, 2}};
    if (options_.crop_stem == "space-to-depth") {
      crop_spec.erase(crop_spec.begin());
      crop_spec.front() = {12, k, 1};
    }
    crop_convs = register_module("crop_convs", torch::nn::ModuleList());
    if (!folded) crop_norms = register_module("crop_norms", torch::nn::ModuleList());
    for (const auto& l : crop_spec) {
      crop_convs->push_back(conv(l[0], l[1], 3, l[2], 1, folded));
      if (!folded) crop_norms->push_back(torch::nn::BatchNorm2d(l[1]));
    }
    const int64_t grid = SceneParserOptions::kCropGrid;
    const int64_t cells = options_.crop_readout == "grid" ? grid * grid : 1;
    if (options_.crop_mask) {
      // The mask head sees the quarter-side map and, upsampled, the last one (which covers the whole crop).
      crop_mask_hidden = register_module("crop_mask_hidden", conv(8 * k, k, 3, 1, 1, true));
      crop_mask_out = register_module("crop_mask_out", conv(k, 1, 1, 1, 1, true));
    }
    crop_out = register_module("crop_out", hopfield::QuantLinear(4 * k * (cells + (options_.crop_mask ? 1 : 0)), s));
    // Zero at first: a parser warm-started from one without crops begins as that parser (`--init`).
    torch::NoGradGuard no_grad_crop;
    crop_out->weight.zero_();
    crop_out->bias.zero_();
  }
  hopfield::AssociationOptions association;
  association.kind = hopfield::parse_attention_kind(options_.attention);
  hopfield::TransformerBlockOptions block;
  block.model_size = s;
  block.num_heads = options_.heads;
  block.ffn_size = 2 * s;
  block.association = association;
  context = register_module("context", hopfield::TransformerBlock(block));

  concept_queries = register_module("concept_queries", torch::nn::ModuleList());
  for (auto a : clevr::attributes()) {
    const std::string name = clevr::attributeName(a);
    const int64_t V = static_cast<int64_t>(clevr::attributeValues(a).size());
    concept_queries->push_back(hopfield::QuantLinear(s, options_.prototype_size));
    hopfield::HopfieldOptions h;
    h.input_size = options_.prototype_size;
    h.stored_size = options_.prototype_size;
    h.projection_size = V;
    h.project_patterns = false;  // stored patterns are the prototypes themselves, retrieved values their codes
    h.normalize_projection = false;
    h.scaling = 0.5;
    h.association = association;
    concept_memories.push_back(register_module("concept_" + name, hopfield::Hopfield(h)));
    at::Tensor p = register_parameter("prototype_" + name, at::empty({1, V, options_.prototype_size}));
    torch::nn::init::normal_(p, 0.0, 1.0);
    prototypes.push_back(p);
    value_codes.push_back(at::eye(V).unsqueeze(0));
  }
}

void SceneParserImpl::setDetectionThreshold(double threshold) {
  SceneParserOptions o = options_;
  o.detection_threshold = threshold;
  o.check();
  options_ = o;
}

at::Tensor sampleSlotWindows(const at::Tensor& source, const at::Tensor& grid, const at::Tensor& keep,
                             WindowSampling sampling) {
  TORCH_CHECK(grid.dim() == 5 && grid.size(4) == 2 && grid.size(2) == grid.size(3) && source.dim() == 4 &&
                  source.size(0) == grid.size(0),
              "sampleSlotWindows: grid must be [B, N, S, S, 2] over source [B, C, H, W]");
  const int64_t B = grid.size(0), N = grid.size(1), S = grid.size(2), C = source.size(1);
  auto options = sampling == WindowSampling::kImage
                     ? F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder)
                     : F::GridSampleFuncOptions().mode(torch::kNearest).padding_mode(torch::kZeros);
  at::Tensor all = F::grid_sample(source, grid.reshape({B, N * S, S, 2}), options.align_corners(false));
  return all.view({B, C, N, S, S}).transpose(1, 2).reshape({B * N, C, S, S}).index_select(0, keep);
}

at::Tensor SceneParserImpl::cropFeatures(const at::Tensor& images, const at::Tensor& centers,
                                         const at::Tensor& slot_mask, SlotOutputs& crops) {
  const int64_t B = centers.size(0), N = centers.size(1), S = options_.crop_size;
  const double scale = static_cast<double>(options_.imageScale());
  const double W = static_cast<double>(images.size(3)), H = static_cast<double>(images.size(2));
  // Window side in image pixels: crop_window scene units at the depth of a mid-sized object there.
  at::Tensor image_centers = centers.detach() * scale;
  at::Tensor at480 = image_centers * (480.0 / W);
  at::Tensor mid_height = at::full({B, N}, 0.5 * (kSmallRadius + kLargeRadius), centers.options());
  at::Tensor side = ground_.pixelsPerUnit(at480, mid_height) * (W / 480.0) * options_.crop_window;
  side = side.clamp(8.0, W);
  // Only the slots that hold objects are cropped.
  at::Tensor keep = (slot_mask.reshape({B * N}) > 0.5).nonzero().squeeze(1);
  at::Tensor out = at::zeros({B * N, options_.slot_size}, centers.options());
  if (keep.numel() == 0) return out.view({B, N, options_.slot_size});
  // Sampling grid [B, N, S, S, 2] in grid_sample's normalised coordinates (align_corners = false).
  at::Tensor u = (at::arange(S, centers.options()) + 0.5) / static_cast<double>(S) - 0.5;  // [-0.5, 0.5)
  at::Tensor cx = image_centers.select(2, 0).view({B, N, 1, 1}), cy = image_centers.select(2, 1).view({B, N, 1, 1});
  at::Tensor w = side.view({B, N, 1, 1});
  at::Tensor gx = (cx + w * u.view({1, 1, 1, S})) * (2.0 / W) - 1.0;
  at::Tensor gy = (cy + w * u.view({1, 1, S, 1})) * (2.0 / H) - 1.0;
  at::Tensor grid = at::stack({gx.expand({B, N, S, S}), gy.expand({B, N, S, S})}, -1);
  at::Tensor patches = sampleSlotWindows(images, grid, keep, WindowSampling::kImage);  // [K, 3, S, S]
  at::Tensor x = options_.crop_stem == "space-to-depth" ? at::pixel_unshuffle(patches, 2) : patches, quarter;
  for (size_t i = 0; i < crop_convs->size(); ++i) {
    x = convNormRelu(*crop_convs[i]->as<hopfield::QuantConv2d>(), normAt(crop_norms, i), x);
    if (i + 2 == crop_convs->size()) quarter = x;  // [K, 4k, S/4, S/4], before the last stride-2 stage
  }
  std::vector<at::Tensor> readout{
      options_.crop_readout == "grid"
          ? F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions({SceneParserOptions::kCropGrid,
                                                                        SceneParserOptions::kCropGrid}))
                .flatten(1)
          : x.mean({2, 3})};
  if (options_.crop_mask) {
    at::Tensor wide = F::interpolate(x, F::InterpolateFuncOptions()
                                            .size(std::vector<int64_t>{quarter.size(2), quarter.size(3)})
                                            .mode(torch::kNearest));
    at::Tensor logits = crop_mask_out(crop_mask_hidden->forward(at::cat({quarter, wide}, 1), /*relu=*/true));
    at::Tensor m = at::sigmoid(logits);
    readout.push_back((quarter * m).sum({2, 3}) / (m.sum({2, 3}) + 1e-3));  // the features under the mask
    crops.mask_logits = logits;
    crops.crop_grid = grid;
    crops.cropped_slots = keep;
  }
  at::Tensor encoded = crop_out(at::cat(readout, 1));  // [K, slot_size]
  return out.index_copy(0, keep, encoded).view({B, N, options_.slot_size});
}

void SceneParserImpl::track_outliers(hopfield::OutlierStats* stats, const std::string& prefix) {
  context->track_outliers(stats, prefix + ".context");
}

torch::nn::BatchNorm2dImpl* SceneParserImpl::normAt(torch::nn::ModuleList list, size_t index) {
  return list ? list[index]->as<torch::nn::BatchNorm2d>() : nullptr;
}

at::Tensor SceneParserImpl::convNormRelu(hopfield::QuantConv2dImpl& conv, torch::nn::BatchNorm2dImpl* norm,
                                         const at::Tensor& x) {
  return norm ? at::relu(norm->forward(conv.forward(x))) : conv.forward(x, /*relu=*/true);
}

at::Tensor SceneParserImpl::conv_block(int index, const at::Tensor& x) {
  const size_t i = static_cast<size_t>(index);
  return convNormRelu(*convs[i]->as<hopfield::QuantConv2d>(), normAt(norms, i), x);
}

DenseOutputs SceneParserImpl::dense(const at::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) == options_.imageHeight() &&
                  images.size(3) == options_.imageWidth(),
              "SceneParser: images must be [B, 3, ", options_.imageHeight(), ", ", options_.imageWidth(), "]");
  const int64_t scale = options_.imageScale();
  at::Tensor x = withCoordinates(scale > 1 ? F::avg_pool2d(images, F::AvgPool2dFuncOptions(scale)) : images);
  x = conv_block(1, conv_block(0, x));
  at::Tensor skip = conv_block(3, conv_block(2, x));  // stride 4
  at::Tensor deep = conv_block(6, conv_block(5, conv_block(4, skip)));  // stride 8
  deep = F::interpolate(deep, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{skip.size(2), skip.size(3)})
                                  .mode(torch::kBilinear)
                                  .align_corners(false));
  at::Tensor f = convNormRelu(*fuse, fuse_norm ? fuse_norm.get() : nullptr, at::cat({deep, skip}, 1));
  f = convNormRelu(*fuse_refine, refine_norm ? refine_norm.get() : nullptr, f);
  DenseOutputs out;
  out.heatmap_logits = heat_out(heat_hidden->forward(f, /*relu=*/true));
  out.offsets = at::sigmoid(offset_out(f));
  out.features = feature_out(f);
  return out;
}

at::Tensor SceneParserImpl::sample(const at::Tensor& map, const at::Tensor& centers) const {
  // Continuous input pixel x maps to 2x/W - 1 with align_corners = false.
  at::Tensor scale = at::tensor({2.0 / options_.input_width, 2.0 / options_.input_height}, centers.options());
  at::Tensor grid = (centers * scale - 1.0).unsqueeze(2);  // [B, N, 1, 2]
  at::Tensor sampled = F::grid_sample(map, grid,
                                      F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder)
                                          .align_corners(false));  // [B, C, N, 1]
  return sampled.squeeze(3).transpose(1, 2);
}

SlotOutputs SceneParserImpl::slots(const at::Tensor& features, const at::Tensor& centers, const at::Tensor& slot_mask,
                                   const at::Tensor& images) {
  const int64_t B = centers.size(0);
  at::Tensor scale = at::tensor({2.0 / options_.input_width, 2.0 / options_.input_height}, centers.options());
  at::Tensor coords = centers * scale - 1.0;
  at::Tensor x = slot_input(at::cat({sample(features, centers), coords}, -1));
  SlotOutputs out;
  if (options_.crop_size > 0) x = x + cropFeatures(images, centers, slot_mask, out);
  at::Tensor padding = slot_mask < 0.5;
  out.features = context(x, padding);
  for (size_t g = 0; g < concept_memories.size(); ++g) {
    auto* query = concept_queries[g]->as<hopfield::QuantLinear>();
    at::Tensor stored = prototypes[g].expand({B, prototypes[g].size(1), prototypes[g].size(2)});
    at::Tensor codes = value_codes[g].to(x.options()).expand({B, value_codes[g].size(1), value_codes[g].size(2)});
    at::Tensor retrieved = concept_memories[g](stored, query->forward(out.features), codes);  // [B, N, V]
    // The association weights over the prototypes; Softmax_1 leaves some mass on "none", renormalised away.
    retrieved = retrieved.clamp_min(1e-12);
    out.attributes.push_back(retrieved / retrieved.sum(-1, true));
  }
  return out;
}

SceneParser foldBatchNorms(SceneParserImpl& parser) {
  if (parser.options().folded_norms) throw std::invalid_argument("foldBatchNorms: the parser is already folded");
  SceneParserOptions options = parser.options();
  options.folded_norms = true;
  SceneParser folded(options);
  torch::NoGradGuard no_grad;
  // Everything that is not a norm keeps its name and shape: copy it over first.
  auto target_params = folded->named_parameters();
  auto target_buffers = folded->named_buffers();
  for (const auto& p : parser.named_parameters())
    if (auto* t = target_params.find(p.key())) t->copy_(p.value());
  for (const auto& b : parser.named_buffers())
    if (auto* t = target_buffers.find(b.key())) t->copy_(b.value());
  // Then each conv -> BatchNorm pair: w' = w * gamma / sqrt(var + eps) per output channel, b' = beta - mean * that.
  auto fold = [](hopfield::QuantConv2dImpl& from, torch::nn::BatchNorm2dImpl& norm, hopfield::QuantConv2dImpl& to) {
    at::Tensor factor = norm.weight / at::sqrt(norm.running_var + norm.options.eps());
    to.weight.copy_(from.weight * factor.view({-1, 1, 1, 1}));
    at::Tensor shift = norm.bias - norm.running_mean * factor;
    if (from.bias.defined()) shift = shift + from.bias * factor;
    to.bias.copy_(shift);
  };
  for (size_t i = 0; i < parser.convs->size(); ++i)
    fold(*parser.convs[i]->as<hopfield::QuantConv2d>(), *parser.norms[i]->as<torch::nn::BatchNorm2d>(),
         *folded->convs[i]->as<hopfield::QuantConv2d>());
  fold(*parser.fuse, *parser.fuse_norm, *folded->fuse);
  fold(*parser.fuse_refine, *parser.refine_norm, *folded->fuse_refine);
  if (parser.crop_convs)
    for (size_t i = 0; i < parser.crop_convs->size(); ++i)
      fold(*parser.crop_convs[i]->as<hopfield::QuantConv2d>(), *parser.crop_norms[i]->as<torch::nn::BatchNorm2d>(),
           *folded->crop_convs[i]->as<hopfield::QuantConv2d>());
  folded->eval();
  return folded;
}

Peaks decodePeaks(const at::Tensor& heatmap_logits, const at::Tensor& offsets, int64_t max_objects) {
  const int64_t B = heatmap_logits.size(0), h = heatmap_logits.size(2), w = heatmap_logits.size(3);
  const int64_t N = std::min<int64_t>(max_objects, h * w);
  at::Tensor prob = at::sigmoid(heatmap_logits);
  // Peaks are 3x3 local maxima of the logits. Where neighbours tie (an int8 heatmap has 256 levels, and its
  // calibrated range clips the surest centres to one value) only the first of them in reading order is a peak,
  // so a plateau is one object, not two.
  at::Tensor pooled = F::max_pool2d(heatmap_logits, F::MaxPool2dFuncOptions(3).stride(1).padding(1));
  at::Tensor is_peak = heatmap_logits == pooled;
  // Padded by one column each side and one row on top: cell (y, x) is (y + 1, x + 1) of `padded`.
  const at::Tensor padded =
      at::constant_pad_nd(heatmap_logits, {1, 1, 1, 0}, -std::numeric_limits<double>::infinity());
  const std::pair<int64_t, int64_t> earlier[] = {{0, 0}, {0, 1}, {0, 2}, {1, 0}};  // row, column in `padded`
  for (const auto& [row, column] : earlier)
    is_peak = is_peak & (padded.slice(2, row, row + h).slice(3, column, column + w) != heatmap_logits);
  at::Tensor kept = (prob * is_peak.to(prob.scalar_type())).view({B, h * w});
  auto [existence, index] = kept.topk(N, 1);
  // Integer cell coordinates (division of integer tensors is true division in ATen: remove the remainder first).
  const at::Tensor column = index % w;
  at::Tensor cell_x = column.to(prob.scalar_type()), cell_y = ((index - column) / w).round().to(prob.scalar_type());
  at::Tensor picked = offsets.view({B, 2, h * w}).gather(2, index.unsqueeze(1).expand({B, 2, N}));  // [B, 2, N]
  const double stride = SceneParserOptions::kOutputStride;
  Peaks out;
  out.existence = existence;
  out.centers = at::stack({(cell_x + picked.select(1, 0)) * stride, (cell_y + picked.select(1, 1)) * stride}, -1);
  return out;
}

SceneParse SceneParserImpl::parse(const at::Tensor& images) {
  DenseOutputs d = dense(images);
  Peaks peaks = decodePeaks(d.heatmap_logits, d.offsets, options_.max_objects);
  const at::Tensor& existence = peaks.existence;
  const at::Tensor& centers = peaks.centers;
  const at::Tensor slot_mask = (existence >= options_.detection_threshold).to(existence.scalar_type());
  SlotOutputs s = slots(d.features, centers, slot_mask, images);
  if (options_.mirror_average) {
    // The objects stay the image's own (averaging in the mirror's heatmap lowered recall on generated val);
    // each slot's attributes are also read from the mirror. Pixel column i of the image is column W - 1 - i of its
    // mirror (centres are in input pixels, the image imageScale() times finer).
    const at::Tensor mirrored = images.flip({3});
    const double scale = options_.imageScale(), width = static_cast<double>(options_.imageWidth());
    at::Tensor mirrored_centers =
        at::stack({mirroredX(centers.select(-1, 0) * scale, width) / scale, centers.select(-1, 1)}, -1);
    SlotOutputs ms = slots(dense(mirrored).features, mirrored_centers, slot_mask, mirrored);
    for (size_t a = 0; a < s.attributes.size(); ++a) s.attributes[a] = 0.5 * (s.attributes[a] + ms.attributes[a]);
  }

  SceneParse out;
  out.centers = centers;
  out.scene.mask = existence;
  out.scene.attributes = s.attributes;
  out.scene.features = s.features;
  const at::Tensor& size = s.attributes[static_cast<size_t>(clevr::Attribute::Size)];  // small, large
  at::Tensor radius = size.select(-1, 0) * kSmallRadius + size.select(-1, 1) * kLargeRadius;
  out.scene.positions = ground_.backProject(centers * (480.0 / options_.input_width), radius);
  out.scene.relations =
      softRelations(out.scene.positions, ground_.directions().to(centers.options()), {}, 0.2, options_.relation_sharpness);
  return out;
}

ParserLosses SceneParserImpl::losses(const at::Tensor& images, const at::Tensor& heatmap, const at::Tensor& centers,
                                     const at::Tensor& labels, const at::Tensor& mask, const at::Tensor& object_ids) {
  DenseOutputs d = dense(images);
  const int64_t B = centers.size(0), N = centers.size(1), h = d.heatmap_logits.size(2), w = d.heatmap_logits.size(3);
  ParserLosses out;
  // CenterNet's focal loss on the Gaussian targets.
  at::Tensor positive = (heatmap >= 1.0 - 1e-6).to(heatmap.scalar_type());
  at::Tensor p = at::sigmoid(d.heatmap_logits);
  at::Tensor pos_loss = at::log_sigmoid(d.heatmap_logits) * (1 - p).pow(2) * positive;
  at::Tensor neg_loss = at::log_sigmoid(-d.heatmap_logits) * p.pow(2) * (1 - heatmap).pow(4) * (1 - positive);
  at::Tensor count = positive.sum().clamp_min(1.0);
  out.heatmap = -(pos_loss.sum() + neg_loss.sum()) / count;

  // Offsets inside the centre cell.
  const double stride = SceneParserOptions::kOutputStride;
  at::Tensor cells = (centers / stride).floor();
  at::Tensor cx = cells.select(-1, 0).clamp(0, w - 1), cy = cells.select(-1, 1).clamp(0, h - 1);
  at::Tensor index = (cy * w + cx).to(at::kLong);  // [B, N]
  at::Tensor predicted = d.offsets.view({B, 2, h * w}).gather(2, index.unsqueeze(1).expand({B, 2, N})).transpose(1, 2);
  at::Tensor target = centers / stride - at::stack({cx, cy}, -1);
  at::Tensor objects = mask.sum().clamp_min(1.0);
  out.offset = ((predicted - target).abs().sum(-1) * mask).sum() / objects;

  // Attributes at the true centres.
  SlotOutputs s = slots(d.features, centers, mask, images);
  out.attributes = at::zeros({}, images.options());
  for (size_t g = 0; g < s.attributes.size(); ++g) {
    at::Tensor y = labels.select(-1, static_cast<int64_t>(g)).clamp_min(0);
    at::Tensor nll = -s.attributes[g].gather(-1, y.unsqueeze(-1)).squeeze(-1).log();
    out.attributes = out.attributes + (nll * mask).sum() / objects;
  }
  // Visible masks: each crop's cells against the share of their pixels that show the slot's own object.
  out.mask = at::zeros({}, images.options());
  if (s.mask_logits.defined() && object_ids.defined()) {
    TORCH_CHECK(object_ids.dim() == 4 && object_ids.size(0) == B && object_ids.size(1) == 1 &&
                    object_ids.size(2) == images.size(2) && object_ids.size(3) == images.size(3),
                "SceneParser: object ids must be [B, 1, H, W] as the images");
    at::Tensor own = (s.cropped_slots.remainder(N) + 1).to(images.scalar_type()).view({-1, 1, 1, 1});
    at::Tensor seen = sampleSlotWindows(object_ids, s.crop_grid, s.cropped_slots, WindowSampling::kLabels);
    const int64_t cell = options_.crop_size / s.mask_logits.size(2);
    at::Tensor target = F::avg_pool2d((seen == own).to(images.scalar_type()), F::AvgPool2dFuncOptions(cell));
    out.mask = at::binary_cross_entropy_with_logits(s.mask_logits, target);
  }
  out.total = out.heatmap + out.offset + out.attributes + out.mask;
  return out;
}

}  // namespace vqa::vision
