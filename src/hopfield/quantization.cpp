// Observers, fake-quant and the quantization-aware modules (ActQuantizer, QuantLinear).
#include "hopfield/quantization.h"

#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "hopfield/int8.h"

namespace vqa::hopfield {

QuantParams asymmetric_params(double lo, double hi, int bits) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  QuantParams p;
  p.qmin = 0;
  p.qmax = (int64_t{1} << bits) - 1;
  p.scale = std::max((hi - lo) / static_cast<double>(p.qmax - p.qmin), 1e-8);
  p.zero_point = std::clamp<int64_t>(static_cast<int64_t>(std::llround(-lo / p.scale)), p.qmin, p.qmax);
  return p;
}

QuantParams symmetric_params(double abs_max, int bits) {
  QuantParams p;
  p.qmax = (int64_t{1} << (bits - 1)) - 1;
  p.qmin = -p.qmax;
  p.scale = std::max(abs_max / static_cast<double>(p.qmax), 1e-8);
  p.zero_point = 0;
  return p;
}

at::Tensor fake_quantize(const at::Tensor& x, const QuantParams& params) {
  if (x.scalar_type() != at::kFloat) {
    return fake_quantize(x.to(at::kFloat), params).to(x.scalar_type());
  }
  return at::fake_quantize_per_tensor_affine(x, params.scale, params.zero_point, params.qmin, params.qmax);
}

at::Tensor symmetric_weight_scales(const at::Tensor& weight, bool per_channel, int bits) {
  const int64_t rows = per_channel ? weight.size(0) : 1;
  at::Tensor abs_max = std::get<0>(weight.detach().to(at::kFloat).abs().reshape({rows, -1}).max(1));
  return (abs_max / static_cast<double>(symmetric_params(0.0, bits).qmax)).clamp_min(1e-8);
}

at::Tensor fake_quantize_weight(const at::Tensor& weight, bool per_channel, int bits) {
  const QuantParams range = symmetric_params(0.0, bits);
  at::Tensor scales = symmetric_weight_scales(weight, per_channel, bits);
  if (!per_channel)
    return at::fake_quantize_per_tensor_affine(weight, scales.item<double>(), 0, range.qmin, range.qmax);
  at::Tensor zero = at::zeros({weight.size(0)}, weight.options().dtype(at::kInt));
  return at::fake_quantize_per_channel_affine(weight, scales, zero, 0, range.qmin, range.qmax);
}

void MinMaxObserver::observe(const at::Tensor& x) {
  at::Tensor flat = x.detach().reshape({-1}).to(at::kFloat);
  if (flat.numel() == 0) return;
  double lo, hi;
  if (percentile_ > 50.0 && percentile_ < 100.0) {
    // kthvalue on the flattened batch: exact percentiles without sorting twice.
    const int64_t n = flat.numel();
    auto rank = [&](double q) { return std::clamp<int64_t>(static_cast<int64_t>(std::llround(q / 100.0 * (n - 1))) + 1, 1, n); };
    lo = std::get<0>(flat.kthvalue(rank(100.0 - percentile_))).item<double>();
    hi = std::get<0>(flat.kthvalue(rank(percentile_))).item<double>();
  } else {
    lo = flat.min().item<double>();
    hi = flat.max().item<double>();
  }
  if (batches_ == 0) {
    min_ = lo;
    max_ = hi;
  } else {
    min_ = momentum_ * min_ + (1.0 - momentum_) * lo;
    max_ = momentum_ * max_ + (1.0 - momentum_) * hi;
  }
  ++batches_;
}

void ActQuantizerImpl::reset() {
  act_min_ = register_buffer("act_min", at::zeros({1}));
  act_max_ = register_buffer("act_max", at::zeros({1}));
}

void ActQuantizerImpl::configure(const QuantSettings& settings) {
  if (settings.mode == QuantMode::Calibrate) {
    observer_ = MinMaxObserver(settings.momentum, settings.percentile);
    act_min_.zero_();
    act_max_.zero_();
  } else if (!observer_.ready() && stored_range_valid()) {
    observer_.set_range(act_min_.item<double>(), act_max_.item<double>(), 1);  // range restored from state
  }
  settings_ = settings;
}

at::Tensor ActQuantizerImpl::forward(const at::Tensor& x) {
  switch (settings_.mode) {
    case QuantMode::Off: return x;
    case QuantMode::Calibrate:
      observer_.observe(x);
      // Stored widened to include 0 (as the quantization parameters are anyway) and never empty, so a point
      // that only ever saw zeros still reads as calibrated: act_max > act_min holds exactly when calibrated.
      act_min_.fill_(std::min(observer_.min(), 0.0));
      act_max_.fill_(std::max({observer_.max(), 0.0, 1e-8}));
      return x;
    case QuantMode::FakeQuant:
    case QuantMode::Int8: return fake_quantize(x, params());  // set_quant_mode checked the range exists
  }
  return x;
}

namespace {

// The forward of a layer with a weight between an input and an output quantization point, in every mode:
// `run(input, weight)` is the floating-point layer, `int8(x, input_params, output_params)` the int8 kernel.
template <class Run, class Int8Run>
at::Tensor forward_in_mode(const QuantSettings& s, bool per_channel_weights, ActQuantizer& input_quant,
                           ActQuantizer& output_quant, const at::Tensor& x, const at::Tensor& weight, Run run,
                           Int8Run int8) {
  switch (s.mode) {
    case QuantMode::Off:
    case QuantMode::Calibrate: return output_quant(run(input_quant(x), weight));
    case QuantMode::FakeQuant:
      return output_quant(run(input_quant(x), fake_quantize_weight(weight, per_channel_weights, s.weight_bits)));
    case QuantMode::Int8: return int8(x, input_quant->params(), output_quant->params());
  }
  return run(x, weight);
}

}  // namespace

QuantLinearImpl::QuantLinearImpl(int64_t in_features, int64_t out_features, bool with_bias)
    : in_features_(in_features), out_features_(out_features), with_bias_(with_bias) {
  reset();
}

void QuantLinearImpl::reset() {
  weight = register_parameter("weight", at::empty({out_features_, in_features_}));
  // Same initialisation as torch::nn::Linear.
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (with_bias_) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features_));
    bias = register_parameter("bias", at::empty({out_features_}));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
  input_quant = register_module("input_quant", ActQuantizer());
  output_quant = register_module("output_quant", ActQuantizer());
  int8_.reset();
}

void QuantLinearImpl::configure(const QuantSettings& settings) {
  settings_ = settings;
  int8_.reset();
  if (settings.mode == QuantMode::Int8) int8_ = Int8Linear::create(weight, bias);
}

at::Tensor QuantLinearImpl::forward(const at::Tensor& x) {
  return forward_in_mode(
      settings_, settings_.per_channel_weights, input_quant, output_quant, x, weight,
      [&](const at::Tensor& input, const at::Tensor& w) { return at::linear(input, w, bias); },
      [&](const at::Tensor& input, const QuantParams& in, const QuantParams& out) { return int8_->forward(input, in, out); });
}

bool ActQuantizerImpl::stored_range_valid() const { return act_max_.item<double>() > act_min_.item<double>(); }

std::string QuantLinearImpl::backend_name() const { return int8_ ? int8_->backend_name() : "fp32"; }

QuantConv2dImpl::QuantConv2dImpl(QuantConv2dOptions options) : options_(options) { reset(); }

void QuantConv2dImpl::reset() {
  const QuantConv2dOptions& o = options_;
  weight = register_parameter("weight", at::empty({o.out_channels, o.in_channels, o.kernel, o.kernel}));
  // Same initialisation as torch::nn::Conv2d.
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (o.bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(o.in_channels * o.kernel * o.kernel));
    bias = register_parameter("bias", at::empty({o.out_channels}));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
  input_quant = register_module("input_quant", ActQuantizer());
  output_quant = register_module("output_quant", ActQuantizer());
  int8_.reset();
}

void QuantConv2dImpl::configure(const QuantSettings& settings) {
  settings_ = settings;
  int8_.reset();
  if (settings.mode == QuantMode::Int8) {
    Conv2dGeometry g;
    g.stride = options_.stride;
    g.dilation = options_.dilation;
    g.padding = options_.dilation * (options_.kernel / 2);
    int8_ = Int8Conv2d::create(weight, bias, g);
  }
}

at::Tensor QuantConv2dImpl::forward(const at::Tensor& x, bool relu) {
  const QuantConv2dOptions& o = options_;
  const int64_t padding = o.dilation * (o.kernel / 2);
  return forward_in_mode(
      settings_, /*per_channel_weights=*/true, input_quant, output_quant, x, weight,
      [&](const at::Tensor& input, const at::Tensor& w) {
        at::Tensor y = at::conv2d(input, w, bias, o.stride, padding, o.dilation);
        return relu ? at::relu(y) : y;
      },
      [&](const at::Tensor& input, const QuantParams& in, const QuantParams& out) {
        return int8_->forward(input, in, out, relu);
      });
}

std::string QuantConv2dImpl::backend_name() const { return int8_ ? int8_->backend_name() : "fp32"; }

std::vector<std::string> uncalibrated_points(torch::nn::Module& model) {
  std::vector<std::string> out;
  for (const auto& item : model.named_modules()) {
    const auto* aq = dynamic_cast<const ActQuantizerImpl*>(item.value().get());
    if (!aq) continue;
    // A range restored from a model file counts: ready() or a stored range.
    const bool stored = aq->stored_range_valid();
    if (!aq->observer().ready() && !stored) out.push_back(item.key());
  }
  return out;
}

size_t count_quant_points(torch::nn::Module& model) {
  size_t n = 0;
  for (const auto& item : model.named_modules())
    if (dynamic_cast<const ActQuantizerImpl*>(item.value().get())) ++n;
  return n;
}

void set_quant_mode(torch::nn::Module& model, const QuantSettings& settings) {
  if (settings.mode == QuantMode::FakeQuant || settings.mode == QuantMode::Int8) {
    const std::vector<std::string> missing = uncalibrated_points(model);
    if (!missing.empty())
      throw std::runtime_error("quantization point " + missing.front() + " was never calibrated" +
                               (missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : ""));
  }
  model.apply([&](torch::nn::Module& m) {
    if (auto* aq = dynamic_cast<ActQuantizerImpl*>(&m)) aq->configure(settings);
    if (auto* ql = dynamic_cast<QuantLinearImpl*>(&m)) ql->configure(settings);
    if (auto* qc = dynamic_cast<QuantConv2dImpl*>(&m)) qc->configure(settings);
  });
}

}  // namespace vqa::hopfield
