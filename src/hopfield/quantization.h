// W8A8 post-training quantization: running min-max observers (momentum 0.9, optional percentile),
// per-tensor / per-channel fake-quant, and the modules that carry a quantization point through a model
// (ActQuantizer, QuantLinear, QuantConv2d).
// Weights are symmetric, activations asymmetric (Bondarenko et al. protocol).
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <vector>

namespace vqa::hopfield {

class Int8Linear;
class Int8Conv2d;

// What every quantization point in a model does right now.
enum class QuantMode {
  Off,        // floating point, quantizers are identities
  Calibrate,  // observers record activation ranges, outputs stay floating point
  FakeQuant,  // W8A8 simulated in floating point (quantize-dequantize)
  Int8,       // linear layers run the real int8 kernels; other points fake-quantize
};

struct QuantParams {
  double scale = 1.0;
  int64_t zero_point = 0;
  int64_t qmin = 0;
  int64_t qmax = 255;
};

// Asymmetric range [lo, hi] -> uint8-style parameters (the range is widened to include 0).
QuantParams asymmetric_params(double lo, double hi, int bits = 8);
// Symmetric range [-a, a] -> int8-style parameters with zero point 0 (qmin = -(2^(b-1)-1)).
QuantParams symmetric_params(double abs_max, int bits = 8);

at::Tensor fake_quantize(const at::Tensor& x, const QuantParams& params);
// The symmetric weight scales, abs-max / (2^(bits-1) - 1) (at least 1e-8), per output channel (dim 0)
// when per_channel ([out]), else one for the whole tensor ([1]); every weight quantizer uses these.
at::Tensor symmetric_weight_scales(const at::Tensor& weight, bool per_channel, int bits = 8);
// Symmetric per-tensor weight fake-quant, or per output channel (dim 0) when per_channel.
at::Tensor fake_quantize_weight(const at::Tensor& weight, bool per_channel, int bits = 8);

// Running min-max: on the first batch the range is the batch range, afterwards
// range = momentum * range + (1 - momentum) * batch_range. With percentile p in (50, 100) the batch
// range is the (100-p)th .. pth percentile instead of min .. max.
class MinMaxObserver {
 public:
  explicit MinMaxObserver(double momentum = 0.9, double percentile = 0.0)
      : momentum_(momentum), percentile_(percentile) {}
  void observe(const at::Tensor& x);
  bool ready() const { return batches_ > 0; }
  double min() const { return min_; }
  double max() const { return max_; }
  int64_t batches() const { return batches_; }
  void set_range(double lo, double hi, int64_t batches) { min_ = lo; max_ = hi; batches_ = batches; }
  QuantParams asymmetric(int bits = 8) const { return asymmetric_params(min_, max_, bits); }
  void reset() { batches_ = 0; min_ = max_ = 0; }

 private:
  double momentum_;
  double percentile_;
  double min_ = 0.0, max_ = 0.0;
  int64_t batches_ = 0;
};

struct QuantSettings {
  QuantMode mode = QuantMode::Off;
  int weight_bits = 8;
  int activation_bits = 8;
  bool per_channel_weights = false;
  double momentum = 0.9;
  double percentile = 0.0;  // 0: plain min-max
};

// One activation quantization point. Identity until the model is put in Calibrate / FakeQuant mode.
// The calibrated range is also kept in buffers (act_min, act_max) so it travels with the module state.
class ActQuantizerImpl : public torch::nn::Cloneable<ActQuantizerImpl> {
 public:
  ActQuantizerImpl() { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& x);
  void configure(const QuantSettings& settings);
  const MinMaxObserver& observer() const { return observer_; }
  QuantParams params() const { return observer_.asymmetric(settings_.activation_bits); }
  QuantMode mode() const { return settings_.mode; }
  // A calibrated range is stored in the buffers (act_max > act_min), as after loading a calibrated model.
  bool stored_range_valid() const;

 private:
  QuantSettings settings_;
  MinMaxObserver observer_;
  at::Tensor act_min_, act_max_;
};
TORCH_MODULE(ActQuantizer);

// A Linear layer that runs as fp32, as W8A8 fake-quant (input, weight and output quantized), or with
// the real int8 kernels (input and output with their calibrated ranges, symmetric int8 weights).
class QuantLinearImpl : public torch::nn::Cloneable<QuantLinearImpl> {
 public:
  QuantLinearImpl(int64_t in_features, int64_t out_features, bool with_bias = true);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);
  void configure(const QuantSettings& settings);
  // "fp32", or the int8 backend in use in Int8 mode.
  std::string backend_name() const;

  at::Tensor weight, bias;
  ActQuantizer input_quant{nullptr}, output_quant{nullptr};

 private:
  int64_t in_features_, out_features_;
  bool with_bias_;
  QuantSettings settings_;
  std::shared_ptr<Int8Linear> int8_;
};
TORCH_MODULE(QuantLinear);

struct QuantConv2dOptions {
  int64_t in_channels = 0, out_channels = 0, kernel = 3, stride = 1, dilation = 1;
  bool bias = false;  // padding is dilation * (kernel / 2): the output keeps the input size at stride 1
};

// A Conv2d (the same parameter names as torch::nn::Conv2d: "weight", and "bias" when it has one) with an
// input and an output quantization point. forward(x, relu) applies the ReLU before the output point, so a
// calibrated range covers what the next layer sees. Weights are quantized symmetric int8 per output channel
// (a folded BatchNorm leaves channel scales far apart); Int8 mode runs ATen's quantized convolution engine
// (the reference integer convolution where the LibTorch has none).
class QuantConv2dImpl : public torch::nn::Cloneable<QuantConv2dImpl> {
 public:
  explicit QuantConv2dImpl(QuantConv2dOptions options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x, bool relu = false);
  void configure(const QuantSettings& settings);
  std::string backend_name() const;
  const QuantConv2dOptions& options() const { return options_; }

  at::Tensor weight, bias;
  ActQuantizer input_quant{nullptr}, output_quant{nullptr};

 private:
  QuantConv2dOptions options_;
  QuantSettings settings_;
  std::shared_ptr<Int8Conv2d> int8_;
};
TORCH_MODULE(QuantConv2d);

// Sets the quantization mode of every ActQuantizer, QuantLinear and QuantConv2d in `model`. Switching to
// Calibrate clears previous ranges; switching to Int8 packs the weights. Switching to FakeQuant or Int8
// throws std::runtime_error("quantization point NAME was never calibrated") when a point has no range:
// an uncalibrated point is an error, never a silent floating-point pass-through.
void set_quant_mode(torch::nn::Module& model, const QuantSettings& settings);

// The names (as in named_modules) of the model's activation quantization points without a calibrated range.
std::vector<std::string> uncalibrated_points(torch::nn::Module& model);
// How many activation quantization points the model has.
size_t count_quant_points(torch::nn::Module& model);

}  // namespace vqa::hopfield
