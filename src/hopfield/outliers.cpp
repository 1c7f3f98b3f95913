// Per-sample kurtosis / inf-norm and their running averages per tracked tensor.
#include "hopfield/outliers.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace vqa::hopfield {

at::Tensor per_sample_kurtosis(const at::Tensor& x) {
  at::Tensor flat = x.detach().reshape({x.size(0), -1}).to(at::kDouble);
  const double n = static_cast<double>(flat.size(1));
  at::Tensor centered = flat - flat.mean(1, /*keepdim=*/true);
  at::Tensor variance = centered.pow(2).sum(1) / std::max(n - 1.0, 1.0);  // unbiased, as torch.std
  at::Tensor fourth = centered.pow(4).mean(1);
  return fourth / (variance.pow(2) + 1e-6);
}

at::Tensor per_sample_inf_norm(const at::Tensor& x) {
  return std::get<0>(x.detach().reshape({x.size(0), -1}).abs().max(1)).to(at::kDouble);
}

void OutlierStats::record(const std::string& name, const at::Tensor& activation) {
  at::NoGradGuard no_grad;
  auto it = accumulators_.find(name);
  if (it == accumulators_.end()) {
    order_.push_back(name);
    it = accumulators_.emplace(name, Accumulator{}).first;
  }
  it->second.kurtosis_sum += per_sample_kurtosis(activation).sum().item<double>();
  it->second.inf_norm_sum += per_sample_inf_norm(activation).sum().item<double>();
  it->second.samples += activation.size(0);
}

std::vector<TrackedTensorSummary> OutlierStats::summary() const {
  std::vector<TrackedTensorSummary> out;
  for (const auto& name : order_) {
    const Accumulator& acc = accumulators_.at(name);
    const double n = static_cast<double>(std::max<int64_t>(acc.samples, 1));
    out.push_back({name, acc.kurtosis_sum / n, acc.inf_norm_sum / n, acc.samples});
  }
  return out;
}

double OutlierStats::average_kurtosis() const {
  auto rows = summary();
  if (rows.empty()) return 0.0;
  double total = 0;
  for (const auto& r : rows) total += r.avg_kurtosis;
  return total / static_cast<double>(rows.size());
}

double OutlierStats::max_inf_norm() const {
  double best = 0;
  for (const auto& r : summary()) best = std::max(best, r.avg_inf_norm);
  return best;
}

void OutlierStats::clear() {
  order_.clear();
  accumulators_.clear();
}

}  // namespace vqa::hopfield
