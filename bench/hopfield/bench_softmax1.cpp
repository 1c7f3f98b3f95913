// CPU cost of Softmax_1 against softmax on attention-score shapes: forward, and forward + backward.
// Softmax_1 runs as the custom autograd function (stable form) and as softmax over a zero-padded row.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <cstdlib>

#include "bench_timer.h"
#include "hopfield/association.h"
#include "hopfield/cuda/softmax1_attention.h"
#include "hopfield/threads.h"

using namespace vqa::hopfield;

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int blas = set_compute_threads(threads);
  std::printf("Softmax_1 vs softmax on CPU | torch threads %d, OpenBLAS threads %d | fp32, last dim | mean ms per call\n\n",
              threads, blas);
  std::printf("%-28s %10s %10s %10s | %10s %10s %10s\n", "scores [B,H,T,S]", "softmax", "softmax1", "pad+smax",
              "smax f+b", "s1 f+b", "pad f+b");
  const std::vector<std::vector<int64_t>> shapes = {{64, 4, 20, 20}, {256, 4, 40, 40}, {32, 8, 128, 128}, {4, 12, 512, 512}};
  at::manual_seed(0);
  for (const auto& shape : shapes) {
    at::Tensor x = at::randn(shape) * 3.0;
    at::Tensor xg = x.clone().set_requires_grad(true);
    at::Tensor g = at::randn(shape);
    auto fwd = [&](int which) {
      return bench::milliseconds_per_call([&] {
        at::NoGradGuard no_grad;
        if (which == 0) at::softmax(x, -1);
        if (which == 1) softmax1(x, -1);
        if (which == 2) softmax1_by_padding(x, -1);
      });
    };
    auto fwd_bwd = [&](int which) {
      return bench::milliseconds_per_call([&] {
        at::Tensor y = which == 0 ? at::softmax(xg, -1) : which == 1 ? softmax1(xg, -1) : softmax1_by_padding(xg, -1);
        torch::autograd::grad({y}, {xg}, {g});
      });
    };
    char name[64];
    std::snprintf(name, sizeof name, "[%lld,%lld,%lld,%lld]", static_cast<long long>(shape[0]),
                  static_cast<long long>(shape[1]), static_cast<long long>(shape[2]), static_cast<long long>(shape[3]));
    std::printf("%-28s %10.3f %10.3f %10.3f | %10.3f %10.3f %10.3f\n", name, fwd(0), fwd(1), fwd(2), fwd_bwd(0),
                fwd_bwd(1), fwd_bwd(2));
  }
  // Whole attention, softmax_1(beta Q K^T) V, unfused on CPU.
  std::printf("\nattention softmax_1(beta QK^T)V vs softmax, unfused CPU path, forward ms:\n");
  for (const auto& shape : std::vector<std::vector<int64_t>>{{64, 4, 20, 16}, {32, 8, 128, 64}}) {
    at::Tensor q = at::randn(shape), k = at::randn(shape), v = at::randn(shape);
    const double beta = 1.0 / std::sqrt(static_cast<double>(shape[3]));
    at::NoGradGuard no_grad;
    const double s1 = bench::milliseconds_per_call([&] { softmax1_attention(q, k, v, at::Tensor(), beta); });
    const double s0 = bench::milliseconds_per_call(
        [&] { at::matmul(at::softmax(beta * at::matmul(q, k.transpose(-2, -1)), -1), v); });
    std::printf("  q,k,v [%lld,%lld,%lld,%lld]: softmax %.3f  softmax1 %.3f\n", static_cast<long long>(shape[0]),
                static_cast<long long>(shape[1]), static_cast<long long>(shape[2]), static_cast<long long>(shape[3]), s0,
                s1);
  }
  return 0;
}
