// Launchers of the fused Softmax_1 attention kernels (fp32, contiguous [B, H, len, dim] tensors).
// Plain pointers and sizes only, so this header needs neither torch nor the CUDA headers.
#pragma once
#include <cstdint>

namespace vqa::hopfield::cuda {

constexpr int64_t kMaxHeadSize = 128;     // D and Dv
constexpr int64_t kMaxSequence = 4096;    // T and S (shared-memory row buffers)
constexpr int64_t kMaxBatchHeads = 65535; // B * H (grid y)

// out = softmax_1(beta q k^T, key padding mask) v, plus the per-row statistics the backward pass reuses:
// row_max = max(max_j s_j, 0) and row_denom = exp(-row_max) + sum_j exp(s_j - row_max).
// mask: [B, S] bytes (nonzero = ignore) or nullptr.
void softmax1_attention_forward(const float* q, const float* k, const float* v, const uint8_t* mask, float* out,
                                float* row_max, float* row_denom, int64_t B, int64_t H, int64_t T, int64_t S,
                                int64_t D, int64_t Dv, float beta, void* stream);

// Gradients for q, k, v given grad_out and delta = rowsum(grad_out * out). One kernel walks query rows
// (grad_q), one walks key rows (grad_k, grad_v): no atomics, deterministic.
void softmax1_attention_backward(const float* q, const float* k, const float* v, const uint8_t* mask,
                                 const float* grad_out, const float* row_max, const float* row_denom,
                                 const float* delta, float* grad_q, float* grad_k, float* grad_v, int64_t B, int64_t H,
                                 int64_t T, int64_t S, int64_t D, int64_t Dv, float beta, void* stream);

}  // namespace vqa::hopfield::cuda
