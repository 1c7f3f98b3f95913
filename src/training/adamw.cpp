// AdamW with exact, checkpointable state.
#include "training/adamw.h"

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace vqa::training {

AdamW::AdamW(torch::nn::Module& module, double weight_decay, double beta1, double beta2)
    : weight_decay_(weight_decay), beta1_(beta1), beta2_(beta2) {
  for (auto& p : module.named_parameters()) {
    names_.push_back(p.key());
    params_.push_back(p.value());
    m_.push_back(at::zeros_like(p.value()));
    v_.push_back(at::zeros_like(p.value()));
  }
}

void AdamW::zeroGrad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

double AdamW::step(double lr, double max_norm) {
  torch::NoGradGuard no_grad;
  double total = 0;
  for (auto& p : params_)
    if (p.grad().defined()) total += p.grad().pow(2).sum().item<double>();
  const double norm = std::sqrt(total);
  ++steps_;
  if (!std::isfinite(norm)) return norm;  // a non-finite gradient changes nothing (the step still counts)
  const double clip = norm > max_norm ? max_norm / (norm + 1e-6) : 1.0;
  const double eps = 1e-8;
  const double c1 = 1.0 - std::pow(beta1_, static_cast<double>(steps_));
  const double c2 = 1.0 - std::pow(beta2_, static_cast<double>(steps_));
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    at::Tensor g = params_[i].grad() * clip;
    m_[i].mul_(beta1_).add_(g, 1 - beta1_);
    v_[i].mul_(beta2_).addcmul_(g, g, 1 - beta2_);
    if (params_[i].dim() > 1) params_[i].mul_(1 - lr * weight_decay_);  // no decay on biases and norms
    params_[i].addcdiv_(m_[i] / c1, (v_[i] / c2).sqrt_().add_(eps), -lr);
  }
  return norm;
}

NamedTensors AdamW::state() const {
  NamedTensors out;
  for (size_t i = 0; i < names_.size(); ++i) {
    out.emplace_back("adam.m." + names_[i], m_[i]);
    out.emplace_back("adam.v." + names_[i], v_[i]);
  }
  return out;
}

void AdamW::load(const ModelFile& file, int64_t steps) {
  for (size_t i = 0; i < names_.size(); ++i) {
    const at::Tensor* m = file.find("adam.m." + names_[i]);
    const at::Tensor* v = file.find("adam.v." + names_[i]);
    if (!m || !v || !m->sizes().equals(m_[i].sizes()) || !v->sizes().equals(v_[i].sizes()))
      throw std::runtime_error("optimizer state for " + names_[i] + " is missing or has the wrong shape");
    m_[i].copy_(*m);
    v_[i].copy_(*v);
  }
  steps_ = steps;
}

double warmupCosine(double peak, int64_t step, int64_t total, int64_t warmup, double floor) {
  warmup = std::max<int64_t>(1, warmup);
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress))));
}

}  // namespace vqa::training
