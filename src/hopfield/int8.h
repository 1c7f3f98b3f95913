// Real int8 compute behind one interface: linear layers and matmuls with 8-bit operands and exact
// 32-bit integer accumulation. Backends: the quantized engines of the installed LibTorch (ONEDNN or
// QNNPACK on Debian's 1.13, X86/FBGEMM where present), reached through the op dispatcher, and a
// portable reference that computes the same integer products itself.
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "hopfield/quantization.h"

namespace vqa::hopfield {

enum class Int8Backend { Auto, Engine, Reference };

// Names of the quantized engines this LibTorch supports ("onednn", "qnnpack", "x86", "fbgemm").
std::vector<std::string> available_int8_engines();

// y = x W^T + b with W quantized symmetric int8 (per tensor) and x quantized asymmetric uint8.
class Int8Linear {
 public:
  virtual ~Int8Linear() = default;
  // Dynamic: the input range is taken from x itself, per call.
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  // Static W8A8: the input is quantized with calibrated parameters and the output requantized with
  // calibrated parameters (as the next layer would see it), then returned dequantized.
  virtual at::Tensor forward(const at::Tensor& x, const QuantParams& input, const QuantParams& output) = 0;
  virtual std::string backend_name() const = 0;

  // Picks the engine when one is usable (Auto), else the reference. Weight [out, in] fp32, bias [out] or undefined.
  static std::shared_ptr<Int8Linear> create(const at::Tensor& weight, const at::Tensor& bias,
                                            Int8Backend backend = Int8Backend::Auto);
};

// y = conv2d(x, W) + b with W quantized symmetric int8 per output channel and x quantized asymmetric uint8
// with calibrated parameters; the output is requantized with calibrated parameters (after a ReLU when
// `relu`), then returned dequantized. Weight [out, in, k, k] fp32, bias [out] or undefined.
struct Conv2dGeometry {
  int64_t stride = 1, padding = 0, dilation = 1;
};
class Int8Conv2d {
 public:
  virtual ~Int8Conv2d() = default;
  virtual at::Tensor forward(const at::Tensor& x, const QuantParams& input, const QuantParams& output,
                             bool relu) = 0;
  virtual std::string backend_name() const = 0;
  static std::shared_ptr<Int8Conv2d> create(const at::Tensor& weight, const at::Tensor& bias,
                                            const Conv2dGeometry& geometry, Int8Backend backend = Int8Backend::Auto);
};

// Symmetric int8 weight codes per output channel (dim 0): codes [out, ...] int8 and scales [out] fp32 with
// weight ~= scales * codes (per_channel false: one scale for the whole tensor, shape [1]).
struct WeightCodes {
  at::Tensor codes, scales;
};
WeightCodes quantize_weight_codes(const at::Tensor& weight, bool per_channel);
at::Tensor dequantize_weight_codes(const WeightCodes& w);

// C = A B for fp32 A [.., n, k] and B [.., k, m], both quantized per tensor (A, B asymmetric uint8
// with the given parameters), products accumulated exactly in int32, result dequantized to fp32.
at::Tensor int8_matmul(const at::Tensor& a, const QuantParams& a_params, const at::Tensor& b,
                       const QuantParams& b_params);

// Quantize to integer codes held in an int32 tensor (value = scale * (code - zero_point)).
at::Tensor quantize_codes(const at::Tensor& x, const QuantParams& params);

}  // namespace vqa::hopfield
