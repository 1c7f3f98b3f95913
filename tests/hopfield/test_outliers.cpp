// Outlier statistics of src/hopfield: per-sample kurtosis and infinity norm, and the tracked-tensor registry.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "hopfield/outliers.h"

using namespace vqa::hopfield;

TEST(Outliers, KurtosisOfGaussianIsThreeAndInfNormIsMaxAbs) {
  at::manual_seed(12);
  at::Tensor x = at::randn({4, 100, 200}, at::kDouble);
  at::Tensor k = per_sample_kurtosis(x);
  EXPECT_EQ(k.size(0), 4);
  EXPECT_NEAR(k.mean().item<double>(), 3.0, 0.1);
  // One huge activation per sample: kurtosis explodes (roughly n for a single spike).
  at::Tensor spiked = x.clone();
  spiked.select(1, 3).select(1, 7).fill_(1000.0);
  EXPECT_GT(per_sample_kurtosis(spiked).min().item<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(per_sample_inf_norm(spiked)[2].item<double>(), 1000.0);
  // Exact value on a small example: x = [0, 0, 0, 4] -> mean 1, unbiased var 4, E[(x-1)^4] = (3*1 + 81)/4 = 21.
  at::Tensor small = at::tensor({0.0, 0.0, 0.0, 4.0}, at::kDouble).view({1, 4});
  EXPECT_NEAR(per_sample_kurtosis(small).item<double>(), 21.0 / (16.0 + 1e-6), 1e-9);
}

TEST(Outliers, RegistryAveragesOverSamplesThenAcrossTensors) {
  OutlierStats stats;
  at::Tensor a = at::tensor({0.0, 0.0, 0.0, 4.0, 1.0, -2.0, 1.0, -2.0}, at::kDouble).view({2, 4});
  stats.record("a", a.narrow(0, 0, 1));
  stats.record("a", a.narrow(0, 1, 1));
  stats.record("b", at::ones({3, 2}) * 5.0);
  auto rows = stats.summary();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "a");
  EXPECT_EQ(rows[0].samples, 2);
  EXPECT_NEAR(rows[0].avg_inf_norm, (4.0 + 2.0) / 2.0, 1e-12);
  const double k0 = per_sample_kurtosis(a.narrow(0, 0, 1)).item<double>();
  const double k1 = per_sample_kurtosis(a.narrow(0, 1, 1)).item<double>();
  EXPECT_NEAR(rows[0].avg_kurtosis, (k0 + k1) / 2.0, 1e-9);
  EXPECT_NEAR(stats.average_kurtosis(), (rows[0].avg_kurtosis + rows[1].avg_kurtosis) / 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(stats.max_inf_norm(), 5.0);
}
