// Outlier statistics: a registry of tracked activations (attention and feed-forward outputs) with the
// per-sample Pearson kurtosis and L-infinity norm averaged over samples, as in Bondarenko et al.
//   average kurtosis = mean over tracked tensors of the per-sample average kurtosis
//   max inf norm     = max over tracked tensors of the per-sample average L-inf norm
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

namespace vqa::hopfield {

// x [B, ...] is flattened per sample; Pearson kurtosis E[(x-mu)^4] / (s^4 + 1e-6) with the unbiased
// std s (a Gaussian gives 3). Returns [B] in double.
at::Tensor per_sample_kurtosis(const at::Tensor& x);
// max_i |x_i| per sample, [B] in double.
at::Tensor per_sample_inf_norm(const at::Tensor& x);

struct TrackedTensorSummary {
  std::string name;
  double avg_kurtosis = 0;
  double avg_inf_norm = 0;
  int64_t samples = 0;
};

class OutlierStats {
 public:
  // Adds the per-sample statistics of `activation` to the tensor named `name` (registered on first use,
  // reported in registration order). Detached and computed without autograd.
  void record(const std::string& name, const at::Tensor& activation);
  std::vector<TrackedTensorSummary> summary() const;
  double average_kurtosis() const;
  double max_inf_norm() const;
  bool empty() const { return order_.empty(); }
  void clear();

 private:
  struct Accumulator {
    double kurtosis_sum = 0, inf_norm_sum = 0;
    int64_t samples = 0;
  };
  std::vector<std::string> order_;
  std::map<std::string, Accumulator> accumulators_;
};

}  // namespace vqa::hopfield
