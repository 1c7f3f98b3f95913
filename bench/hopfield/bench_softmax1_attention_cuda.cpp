// Fused CUDA Softmax_1 attention against the unfused ATen composition on the GPU: forward and
// forward + backward milliseconds per call (CUDA-synchronised), fp32.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "bench_timer.h"
#include "hopfield/cuda/softmax1_attention.h"

using namespace vqa::hopfield;

int main() {
  if (!at::hasCUDA() || !fused_softmax1_attention_compiled()) {
    std::printf("needs a CUDA device and a CUDA build\n");
    return 1;
  }
  const auto cuda = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  std::printf("fused Softmax_1 attention vs unfused (matmul, softmax1, matmul) | fp32 | ms per call\n");
  std::printf("%-26s %10s %10s %8s | %10s %10s %8s\n", "q,k,v [B,H,T,D]", "fused", "unfused", "speedup", "fused f+b",
              "unfused f+b", "speedup");
  const std::vector<std::vector<int64_t>> shapes = {
      {64, 4, 20, 16}, {256, 4, 40, 16}, {32, 8, 128, 64}, {8, 12, 512, 64}, {4, 16, 1024, 128}};
  for (const auto& s : shapes) {
    at::Tensor q = at::randn(s, cuda), k = at::randn(s, cuda), v = at::randn(s, cuda), g = at::randn(s, cuda);
    const double beta = 1.0 / std::sqrt(static_cast<double>(s[3]));
    auto timed = [&](bool fused, bool backward) {
      at::Tensor qg = q.clone().set_requires_grad(backward), kg = k.clone().set_requires_grad(backward),
                 vg = v.clone().set_requires_grad(backward);
      return bench::milliseconds_per_call([&] {
        at::Tensor out = fused ? softmax1_attention(qg, kg, vg, at::Tensor(), beta)
                               : softmax1_attention_unfused(qg, kg, vg, at::Tensor(), beta);
        if (backward) torch::autograd::grad({out}, {qg, kg, vg}, {g});
        out.sum().item<float>();  // synchronise
      }, 0.3, 3);
    };
    char name[64];
    std::snprintf(name, sizeof name, "[%lld,%lld,%lld,%lld]", (long long)s[0], (long long)s[1], (long long)s[2],
                  (long long)s[3]);
    const double f = timed(true, false), u = timed(false, false), fb = timed(true, true), ub = timed(false, true);
    std::printf("%-26s %10.3f %10.3f %7.2fx | %10.3f %10.3f %7.2fx\n", name, f, u, u / f, fb, ub, ub / fb);
  }
  return 0;
}
