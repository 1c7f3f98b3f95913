// Softmax_1 attention, softmax_1(beta Q K^T + mask) V: a fused CUDA kernel (forward and backward) when
// the library is built with CUDA, and the unfused ATen composition everywhere (reference and CPU path).
#pragma once
#include <ATen/ATen.h>

namespace vqa::hopfield {

// q [B, H, T, D], k [B, H, S, D], v [B, H, S, Dv]; key_padding_mask [B, S] bool (true = ignore) or
// undefined. CUDA float tensors use the fused kernel when it is compiled in, everything else the
// unfused path. Differentiable with respect to q, k and v.
at::Tensor softmax1_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const at::Tensor& key_padding_mask, double beta);

// The unfused composition: matmul, masked_fill, softmax1, matmul.
at::Tensor softmax1_attention_unfused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      const at::Tensor& key_padding_mask, double beta);

// True when the fused CUDA kernel was compiled into this build.
bool fused_softmax1_attention_compiled();

}  // namespace vqa::hopfield
