// Fused Softmax_1 attention on CUDA: one thread block per query row (forward, grad_q) or per key row
// (grad_k, grad_v). Scores live in shared memory; Softmax_1 uses the stable form
// m = max(max_j s_j, 0), p_j = exp(s_j - m) / (exp(-m) + sum_j exp(s_j - m)), so fully masked rows give 0.
#include <cuda_runtime.h>

#include <cfloat>
#include <stdexcept>
#include <string>

#include "hopfield/cuda/softmax1_attention_kernel.h"

namespace vqa::hopfield::cuda {

namespace {

constexpr int kThreads = 128;  // 4 warps per block

__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Block-wide reductions for blockDim.x == kThreads; `scratch` holds one float per warp.
__device__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kThreads / 32; ++w) total += scratch[w];
  return total;
}

__device__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float best = -FLT_MAX;
  for (int w = 0; w < kThreads / 32; ++w) best = fmaxf(best, scratch[w]);
  return best;
}

__device__ float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.f;
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// grid (T, B*H). Shared: q row [D], probabilities [S].
__global__ void forward_kernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                               const uint8_t* __restrict__ mask, float* __restrict__ out, float* __restrict__ row_max,
                               float* __restrict__ row_denom, int64_t H, int64_t T, int64_t S, int64_t D, int64_t Dv,
                               float beta) {
  extern __shared__ float shared[];
  __shared__ float scratch[kThreads / 32];
  float* q_row = shared;
  float* p = shared + D;
  const int64_t t = blockIdx.x, bh = blockIdx.y, b = bh / H;
  const float* qt = q + (bh * T + t) * D;
  const float* kb = k + bh * S * D;
  const float* vb = v + bh * S * Dv;
  for (int64_t d = threadIdx.x; d < D; d += kThreads) q_row[d] = qt[d];
  __syncthreads();

  float local_max = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < S; j += kThreads) {
    const bool masked = mask != nullptr && mask[b * S + j] != 0;
    const float s = masked ? -FLT_MAX : beta * dot(q_row, kb + j * D, D);
    p[j] = s;
    local_max = fmaxf(local_max, s);
  }
  const float m = fmaxf(block_max(local_max, scratch), 0.f);  // the zero slot enters the max
  float local_sum = 0.f;
  for (int64_t j = threadIdx.x; j < S; j += kThreads) {
    const float e = p[j] == -FLT_MAX ? 0.f : __expf(p[j] - m);
    p[j] = e;
    local_sum += e;
  }
  const float denom = block_sum(local_sum, scratch) + __expf(-m);
  const float inv = 1.f / denom;
  for (int64_t j = threadIdx.x; j < S; j += kThreads) p[j] *= inv;
  __syncthreads();

  float* ot = out + (bh * T + t) * Dv;
  for (int64_t d = threadIdx.x; d < Dv; d += kThreads) {
    float acc = 0.f;
    for (int64_t j = 0; j < S; ++j) acc += p[j] * vb[j * Dv + d];
    ot[d] = acc;
  }
  if (threadIdx.x == 0) {
    row_max[bh * T + t] = m;
    row_denom[bh * T + t] = denom;
  }
}

// grid (T, B*H). Shared: q row [D], grad_out row [Dv], dS [S]. grad_q = beta * sum_j dS_j k_j with
// dS_j = p_j * (dO . v_j - delta).
__global__ void backward_query_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                      const float* __restrict__ v, const uint8_t* __restrict__ mask,
                                      const float* __restrict__ grad_out, const float* __restrict__ row_max,
                                      const float* __restrict__ row_denom, const float* __restrict__ delta,
                                      float* __restrict__ grad_q, int64_t H, int64_t T, int64_t S, int64_t D,
                                      int64_t Dv, float beta) {
  extern __shared__ float shared[];
  float* q_row = shared;
  float* go_row = shared + D;
  float* ds = shared + D + Dv;
  const int64_t t = blockIdx.x, bh = blockIdx.y, b = bh / H, row = bh * T + t;
  const float* kb = k + bh * S * D;
  const float* vb = v + bh * S * Dv;
  for (int64_t d = threadIdx.x; d < D; d += kThreads) q_row[d] = q[row * D + d];
  for (int64_t d = threadIdx.x; d < Dv; d += kThreads) go_row[d] = grad_out[row * Dv + d];
  __syncthreads();
  const float m = row_max[row], inv = 1.f / row_denom[row], dl = delta[row];
  for (int64_t j = threadIdx.x; j < S; j += kThreads) {
    const bool masked = mask != nullptr && mask[b * S + j] != 0;
    float value = 0.f;
    if (!masked) {
      const float p = __expf(beta * dot(q_row, kb + j * D, D) - m) * inv;
      value = p * (dot(go_row, vb + j * Dv, Dv) - dl);
    }
    ds[j] = value;
  }
  __syncthreads();
  for (int64_t d = threadIdx.x; d < D; d += kThreads) {
    float acc = 0.f;
    for (int64_t j = 0; j < S; ++j) acc += ds[j] * kb[j * D + d];
    grad_q[row * D + d] = beta * acc;
  }
}

// grid (S, B*H). Shared: k row [D], v row [Dv], p [T], dS [T]. grad_v_j = sum_t p_tj dO_t,
// grad_k_j = beta * sum_t dS_tj q_t.
__global__ void backward_key_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                    const float* __restrict__ v, const uint8_t* __restrict__ mask,
                                    const float* __restrict__ grad_out, const float* __restrict__ row_max,
                                    const float* __restrict__ row_denom, const float* __restrict__ delta,
                                    float* __restrict__ grad_k, float* __restrict__ grad_v, int64_t H, int64_t T,
                                    int64_t S, int64_t D, int64_t Dv, float beta) {
  extern __shared__ float shared[];
  float* k_row = shared;
  float* v_row = shared + D;
  float* p = shared + D + Dv;
  float* ds = shared + D + Dv + T;
  const int64_t j = blockIdx.x, bh = blockIdx.y, b = bh / H;
  const float* qb = q + bh * T * D;
  const float* gob = grad_out + bh * T * Dv;
  const bool masked = mask != nullptr && mask[b * S + j] != 0;
  for (int64_t d = threadIdx.x; d < D; d += kThreads) k_row[d] = k[(bh * S + j) * D + d];
  for (int64_t d = threadIdx.x; d < Dv; d += kThreads) v_row[d] = v[(bh * S + j) * Dv + d];
  __syncthreads();
  for (int64_t t = threadIdx.x; t < T; t += kThreads) {
    float pt = 0.f, dst = 0.f;
    if (!masked) {
      const int64_t row = bh * T + t;
      pt = __expf(beta * dot(qb + t * D, k_row, D) - row_max[row]) / row_denom[row];
      dst = pt * (dot(gob + t * Dv, v_row, Dv) - delta[row]);
    }
    p[t] = pt;
    ds[t] = dst;
  }
  __syncthreads();
  for (int64_t d = threadIdx.x; d < Dv; d += kThreads) {
    float acc = 0.f;
    for (int64_t t = 0; t < T; ++t) acc += p[t] * gob[t * Dv + d];
    grad_v[(bh * S + j) * Dv + d] = acc;
  }
  for (int64_t d = threadIdx.x; d < D; d += kThreads) {
    float acc = 0.f;
    for (int64_t t = 0; t < T; ++t) acc += ds[t] * qb[t * D + d];
    grad_k[(bh * S + j) * D + d] = beta * acc;
  }
}

void check_sizes(int64_t B, int64_t H, int64_t T, int64_t S, int64_t D, int64_t Dv) {
  if (D > kMaxHeadSize || Dv > kMaxHeadSize || T > kMaxSequence || S > kMaxSequence || B * H > kMaxBatchHeads ||
      T < 1 || S < 1)
    throw std::invalid_argument("softmax1 attention kernel: unsupported sizes");
}

void check_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace

void softmax1_attention_forward(const float* q, const float* k, const float* v, const uint8_t* mask, float* out,
                                float* row_max, float* row_denom, int64_t B, int64_t H, int64_t T, int64_t S,
                                int64_t D, int64_t Dv, float beta, void* stream) {
  check_sizes(B, H, T, S, D, Dv);
  const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(B * H));
  const size_t shared = static_cast<size_t>(D + S) * sizeof(float);
  forward_kernel<<<grid, kThreads, shared, static_cast<cudaStream_t>(stream)>>>(q, k, v, mask, out, row_max, row_denom,
                                                                               H, T, S, D, Dv, beta);
  check_launch("softmax1 attention forward");
}

void softmax1_attention_backward(const float* q, const float* k, const float* v, const uint8_t* mask,
                                 const float* grad_out, const float* row_max, const float* row_denom,
                                 const float* delta, float* grad_q, float* grad_k, float* grad_v, int64_t B, int64_t H,
                                 int64_t T, int64_t S, int64_t D, int64_t Dv, float beta, void* stream) {
  check_sizes(B, H, T, S, D, Dv);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const dim3 query_grid(static_cast<unsigned>(T), static_cast<unsigned>(B * H));
  backward_query_kernel<<<query_grid, kThreads, static_cast<size_t>(D + Dv + S) * sizeof(float), s>>>(
      q, k, v, mask, grad_out, row_max, row_denom, delta, grad_q, H, T, S, D, Dv, beta);
  check_launch("softmax1 attention backward (queries)");
  const dim3 key_grid(static_cast<unsigned>(S), static_cast<unsigned>(B * H));
  backward_key_kernel<<<key_grid, kThreads, static_cast<size_t>(D + Dv + 2 * T) * sizeof(float), s>>>(
      q, k, v, mask, grad_out, row_max, row_denom, delta, grad_k, grad_v, H, T, S, D, Dv, beta);
  check_launch("softmax1 attention backward (keys)");
}

}  // namespace vqa::hopfield::cuda
