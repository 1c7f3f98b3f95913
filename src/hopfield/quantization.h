// W8A8 post-training quantization: running min-max observers (momentum 0.9, optional percentile),
// per-tensor / per-channel fake-quant, and the modules that carry a quantization point through a model.
// Weights are symmetric, activations asymmetric (Bondarenko et al. protocol).
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>

namespace vqa::hopfield {

class Int8Linear;

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

// Sets the quantization mode of every ActQuantizer and QuantLinear in `model`. Switching to Calibrate
// clears previous ranges; switching to Int8 packs the weights of each QuantLinear.
void set_quant_mode(torch::nn::Module& model, const QuantSettings& settings);

}  // namespace vqa::hopfield
