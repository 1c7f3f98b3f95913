// Finite-difference gradient check in double precision (the C++ counterpart of torch.autograd.gradcheck):
// compares d<f(x), g>/dx from autograd with central differences for a random upstream gradient g.
#pragma once
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <functional>

namespace vqa::hopfield::testing {

// Returns the largest |analytic - numeric| over all entries of every input.
inline double gradcheck_max_error(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& f,
                                  std::vector<at::Tensor> inputs, double eps = 1e-6) {
  for (auto& x : inputs) x = x.detach().to(at::kDouble).set_requires_grad(true);
  at::Tensor out = f(inputs);
  at::Tensor upstream = at::randn(out.sizes(), out.options().requires_grad(false));
  auto analytic = torch::autograd::grad({(out * upstream).sum()}, inputs, {}, false, false, true);
  double worst = 0.0;
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    at::Tensor flat = inputs[i].view({-1});
    at::Tensor expected = analytic[i].defined() ? analytic[i].reshape({-1}) : at::zeros_like(flat);
    for (int64_t j = 0; j < flat.numel(); ++j) {
      const double saved = flat[j].item<double>();
      flat[j] = saved + eps;
      const double plus = (f(inputs) * upstream).sum().item<double>();
      flat[j] = saved - eps;
      const double minus = (f(inputs) * upstream).sum().item<double>();
      flat[j] = saved;
      const double numeric = (plus - minus) / (2 * eps);
      worst = std::max(worst, std::abs(numeric - expected[j].item<double>()));
    }
  }
  return worst;
}

// The same check for a parameter used inside f (perturbed in place).
inline double gradcheck_parameter_max_error(const std::function<at::Tensor()>& f, at::Tensor parameter,
                                            double eps = 1e-6) {
  at::Tensor out = f();
  at::Tensor upstream = at::randn(out.sizes(), out.options().requires_grad(false));
  at::Tensor analytic = torch::autograd::grad({(out * upstream).sum()}, {parameter})[0].reshape({-1});
  double worst = 0.0;
  at::NoGradGuard no_grad;
  at::Tensor flat = parameter.view({-1});
  for (int64_t j = 0; j < flat.numel(); ++j) {
    const double saved = flat[j].item<double>();
    flat[j] = saved + eps;
    const double plus = (f() * upstream).sum().item<double>();
    flat[j] = saved - eps;
    const double minus = (f() * upstream).sum().item<double>();
    flat[j] = saved;
    worst = std::max(worst, std::abs((plus - minus) / (2 * eps) - analytic[j].item<double>()));
  }
  return worst;
}

}  // namespace vqa::hopfield::testing
