// CUDA check of the fused Softmax_1 attention (built only with CUDA; plain program, no GoogleTest, so it
// runs on a bare GPU machine): forward and gradients against the unfused composition in double on the
// CPU, masked and fully masked rows, and several shapes; then the layer path: a Hopfield transformer block on
// the GPU (which takes the fused kernel) against the same block on the CPU (unfused). Exit status 0 when every
// check passes.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "hopfield/cuda/softmax1_attention.h"
#include "hopfield/hopfield.h"

using namespace vqa::hopfield;

namespace {

int failures = 0;

void expect_close(const char* what, const at::Tensor& got, const at::Tensor& want, double tolerance) {
  const double err = (got.to(at::kDouble).cpu() - want.to(at::kDouble).cpu()).abs().max().item<double>();
  const bool ok = err <= tolerance && std::isfinite(err);
  std::printf("%-52s max abs error %.3e (tolerance %.0e) %s\n", what, err, tolerance, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

void check_shape(int64_t B, int64_t H, int64_t T, int64_t S, int64_t D, int64_t Dv, bool with_mask) {
  at::manual_seed(B * 1000 + T + S);
  const auto cuda = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  at::Tensor q = at::randn({B, H, T, D}, cuda), k = at::randn({B, H, S, D}, cuda), v = at::randn({B, H, S, Dv}, cuda);
  at::Tensor mask;
  if (with_mask) {
    mask = at::rand({B, S}, cuda) < 0.3;
    mask[0].fill_(true);  // a fully masked sample: output 0, gradients finite
  }
  const double beta = 1.0 / std::sqrt(static_cast<double>(D));
  at::Tensor grad_out = at::randn({B, H, T, Dv}, cuda);

  at::Tensor qf = q.clone().set_requires_grad(true), kf = k.clone().set_requires_grad(true),
             vf = v.clone().set_requires_grad(true);
  at::Tensor fused = softmax1_attention(qf, kf, vf, mask, beta);
  auto fused_grads = torch::autograd::grad({fused}, {qf, kf, vf}, {grad_out});

  auto cpu_double = [](const at::Tensor& t) { return t.detach().cpu().to(at::kDouble).set_requires_grad(true); };
  at::Tensor qr = cpu_double(q), kr = cpu_double(k), vr = cpu_double(v);
  at::Tensor reference = softmax1_attention_unfused(qr, kr, vr, mask.defined() ? mask.cpu() : at::Tensor(), beta);
  auto reference_grads = torch::autograd::grad({reference}, {qr, kr, vr}, {grad_out.cpu().to(at::kDouble)});

  char label[96];
  std::snprintf(label, sizeof label, "B%lld H%lld T%lld S%lld D%lld Dv%lld%s", (long long)B, (long long)H,
                (long long)T, (long long)S, (long long)D, (long long)Dv, with_mask ? " masked" : "");
  const char* parts[] = {"out", "grad q", "grad k", "grad v"};
  std::vector<at::Tensor> got = {fused, fused_grads[0], fused_grads[1], fused_grads[2]};
  std::vector<at::Tensor> want = {reference, reference_grads[0], reference_grads[1], reference_grads[2]};
  for (int i = 0; i < 4; ++i) {
    std::string what = std::string(label) + " " + parts[i];
    expect_close(what.c_str(), got[i], want[i], 2e-4 * std::sqrt(static_cast<double>(std::max(S, T))));
  }
  if (with_mask) {
    const double masked_out = fused[0].abs().max().item<double>();
    std::printf("%-52s %.3e %s\n", "fully masked sample output", masked_out, masked_out == 0.0 ? "ok" : "FAILED");
    if (masked_out != 0.0) ++failures;
    for (const auto& g : fused_grads)
      if (!at::isfinite(g).all().item<bool>()) {
        std::printf("non-finite gradient FAILED\n");
        ++failures;
      }
  }
}

}  // namespace

// The same Softmax_1 transformer block on the CPU and on the GPU: outputs and input gradients agree, and the GPU
// block really took the fused kernel (its attention recorded no association weights).
void check_layer_path() {
  at::manual_seed(7);
  TransformerBlockOptions o;
  o.model_size = 64;
  o.num_heads = 4;
  o.ffn_size = 128;
  TransformerBlock cpu(o);
  cpu->eval();
  auto gpu = std::dynamic_pointer_cast<TransformerBlockImpl>(cpu->clone(at::Device(at::kCUDA)));
  gpu->eval();
  at::Tensor x = at::randn({3, 17, 64});
  at::Tensor padding = at::rand({3, 17}) < 0.25;
  at::Tensor x_cpu = x.clone().set_requires_grad(true), x_gpu = x.to(at::kCUDA).set_requires_grad(true);
  at::Tensor y_cpu = cpu->forward(x_cpu, padding), y_gpu = gpu->forward(x_gpu, padding.to(at::kCUDA));
  const bool fused = !gpu->attention->last_association().defined() && cpu->attention->last_association().defined();
  std::printf("%-52s %s\n", "layer path: the GPU block took the fused kernel", fused ? "ok" : "FAILED");
  if (!fused) ++failures;
  expect_close("layer path: block output, GPU fused vs CPU", y_gpu, y_cpu, 1e-4);
  at::Tensor g = at::randn(y_cpu.sizes());
  y_cpu.backward(g);
  y_gpu.backward(g.to(at::kCUDA));
  expect_close("layer path: input gradient, GPU fused vs CPU", x_gpu.grad(), x_cpu.grad(), 1e-4);
}

int main() {
  if (!fused_softmax1_attention_compiled()) {
    std::printf("fused kernel not compiled in this build\n");
    return 1;
  }
  if (!at::hasCUDA()) {
    std::printf("no CUDA device\n");
    return 1;
  }
  check_shape(2, 3, 5, 7, 16, 16, false);
  check_shape(2, 4, 33, 65, 64, 32, true);
  check_shape(1, 2, 130, 129, 128, 128, true);
  check_shape(3, 1, 1, 300, 8, 24, true);
  check_shape(4, 8, 256, 256, 64, 64, false);
  check_layer_path();
  std::printf("%s (%d failures)\n", failures == 0 ? "all CUDA checks passed" : "CUDA checks FAILED", failures);
  return failures == 0 ? 0 : 1;
}
