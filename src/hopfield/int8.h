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

// C = A B for fp32 A [.., n, k] and B [.., k, m], both quantized per tensor (A, B asymmetric uint8
// with the given parameters), products accumulated exactly in int32, result dequantized to fp32.
at::Tensor int8_matmul(const at::Tensor& a, const QuantParams& a_params, const at::Tensor& b,
                       const QuantParams& b_params);

// Quantize to integer codes held in an int32 tensor (value = scale * (code - zero_point)).
at::Tensor quantize_codes(const at::Tensor& x, const QuantParams& params);

}  // namespace vqa::hopfield
