// Observers, fake-quant, the int8 linear / convolution / matmul backends (each against the exact integer
// computation), int8 weight codes, and W8A8 on a model (an uncalibrated point is an error).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/sequential.h>

#include "hopfield/hopfield.h"
#include "hopfield/int8.h"
#include "hopfield/quantization.h"

using namespace vqa::hopfield;

TEST(FakeQuant, RoundTripErrorWithinOneStep) {
  at::manual_seed(7);
  at::Tensor x = at::randn({4096}) * 3.0 + 0.5;
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  QuantParams p = asymmetric_params(lo, hi);
  EXPECT_EQ(p.qmin, 0);
  EXPECT_EQ(p.qmax, 255);
  at::Tensor err = (fake_quantize(x, p) - x).abs();
  EXPECT_LE(err.max().item<double>(), p.scale * 0.5 + 1e-6);  // rounding: half a step
  EXPECT_LE(err.max().item<double>(), p.scale);
  // Zero is exactly representable.
  EXPECT_EQ(fake_quantize(at::zeros({1}), p).item<double>(), 0.0);
  // Symmetric weights: half a step as well, and per-channel is never worse than per-tensor.
  at::Tensor w = at::randn({16, 32});
  w[3] *= 20.0;
  const double step = w.abs().max().item<double>() / 127.0;
  EXPECT_LE((fake_quantize_weight(w, false) - w).abs().max().item<double>(), step * 0.5 + 1e-6);
  EXPECT_LE((fake_quantize_weight(w, true) - w).abs().mean().item<double>(),
            (fake_quantize_weight(w, false) - w).abs().mean().item<double>());
  // Out-of-range values clamp to the range ends.
  EXPECT_NEAR(fake_quantize(at::full({1}, hi + 100.0), p).item<double>(), p.scale * (255 - p.zero_point), 1e-5);
}

TEST(FakeQuant, StraightThroughGradient) {
  at::Tensor x = at::linspace(-1, 1, 11).set_requires_grad(true);
  fake_quantize(x, asymmetric_params(-0.5, 0.5)).sum().backward();
  // Gradient 1 inside the range, 0 where clamped.
  EXPECT_EQ(x.grad()[5].item<double>(), 1.0);
  EXPECT_EQ(x.grad()[0].item<double>(), 0.0);
}

TEST(Observer, RunningMinMaxWithMomentum) {
  MinMaxObserver obs(0.9);
  obs.observe(at::tensor({-1.0, 2.0}));
  EXPECT_DOUBLE_EQ(obs.min(), -1.0);
  EXPECT_DOUBLE_EQ(obs.max(), 2.0);
  obs.observe(at::tensor({-3.0, 4.0}));
  EXPECT_NEAR(obs.min(), 0.9 * -1.0 + 0.1 * -3.0, 1e-12);
  EXPECT_NEAR(obs.max(), 0.9 * 2.0 + 0.1 * 4.0, 1e-12);
  EXPECT_EQ(obs.batches(), 2);
}

TEST(Observer, PercentileIgnoresRareOutliers) {
  at::Tensor x = at::linspace(0, 1, 100001);
  x[7] = 1000.0;
  MinMaxObserver plain(0.9), clipped(0.9, 99.99);
  plain.observe(x);
  clipped.observe(x);
  EXPECT_DOUBLE_EQ(plain.max(), 1000.0);
  EXPECT_LT(clipped.max(), 1.0 + 1e-6);
  EXPECT_GT(clipped.max(), 0.99);
}

TEST(Int8, LinearWithinTwoPercentOfFp32OnEveryBackend) {
  at::manual_seed(8);
  at::Tensor w = at::randn({256, 64}) / 8.0, b = at::randn({256}) * 0.1;
  at::Tensor x = at::randn({128, 64});
  at::Tensor reference = at::linear(x, w, b);
  std::vector<Int8Backend> backends = {Int8Backend::Reference};
  if (!available_int8_engines().empty()) backends.push_back(Int8Backend::Auto);
  for (Int8Backend backend : backends) {
    auto linear = Int8Linear::create(w, b, backend);
    at::Tensor y = linear->forward(x);
    const double rel = (y - reference).norm().item<double>() / reference.norm().item<double>();
    EXPECT_LT(rel, 0.02) << linear->backend_name();
    // Static W8A8 with calibrated input / output ranges, on a batch shaped [B, T, features].
    at::Tensor x3 = x.view({4, 32, 64});
    QuantParams in = asymmetric_params(x.min().item<double>(), x.max().item<double>());
    QuantParams out = asymmetric_params(reference.min().item<double>(), reference.max().item<double>());
    at::Tensor y3 = linear->forward(x3, in, out);
    EXPECT_EQ(y3.sizes(), at::IntArrayRef({4, 32, 256}));
    const double rel3 = (y3.view({128, 256}) - reference).norm().item<double>() / reference.norm().item<double>();
    EXPECT_LT(rel3, 0.02) << linear->backend_name();
  }
}

TEST(Int8, EngineAndReferenceAgreeOnStaticW8A8) {
  if (available_int8_engines().empty()) GTEST_SKIP() << "no quantized engine in this LibTorch";
  at::manual_seed(9);
  at::Tensor w = at::randn({32, 48}) / 7.0, b = at::randn({32}) * 0.1, x = at::randn({20, 48});
  QuantParams in = asymmetric_params(-3.0, 3.0), out = asymmetric_params(-4.0, 4.0);
  at::Tensor engine = Int8Linear::create(w, b, Int8Backend::Auto)->forward(x, in, out);
  at::Tensor reference = Int8Linear::create(w, b, Int8Backend::Reference)->forward(x, in, out);
  // Both produce output codes on the same grid; rounding of the requantization may differ by one step.
  EXPECT_LE((engine - reference).abs().max().item<double>(), out.scale * 1.01);
}

TEST(Int8, MatmulAccumulatesExactlyInInt32) {
  at::manual_seed(10);
  at::Tensor a = at::rand({3, 5, 40}) * 2 - 1, b = at::rand({3, 40, 6}) * 4 - 2;
  QuantParams pa = asymmetric_params(-1, 1), pb = asymmetric_params(-2, 2);
  at::Tensor exact = at::matmul(fake_quantize(a, pa).to(at::kDouble), fake_quantize(b, pb).to(at::kDouble));
  at::Tensor c = int8_matmul(a, pa, b, pb);
  EXPECT_LT((c.to(at::kDouble) - exact).abs().max().item<double>(), 1e-4);
  // Extreme codes over a long reduction: no int8 wrap-around.
  at::Tensor ones_a = at::ones({1, 1, 4096}), ones_b = at::ones({1, 4096, 1});
  QuantParams unit = asymmetric_params(0.0, 1.0);
  EXPECT_NEAR(int8_matmul(ones_a, unit, ones_b, unit).item<double>(), 4096.0, 1e-2);
}

TEST(W8A8, CalibratedModelStaysCloseToFp32AndInt8PathMatchesFakeQuant) {
  at::manual_seed(11);
  TransformerBlockOptions o;
  o.model_size = 32;
  o.num_heads = 4;
  o.ffn_size = 64;
  TransformerBlock block(o);
  block->eval();
  at::NoGradGuard no_grad;
  at::Tensor x = at::randn({8, 10, 32});
  at::Tensor fp = block(x);
  QuantSettings s;
  s.mode = QuantMode::Calibrate;
  set_quant_mode(*block, s);
  for (int i = 0; i < 4; ++i) block(at::randn({8, 10, 32}));
  block(x);
  EXPECT_TRUE(block->attention->scores_quant->observer().ready());
  EXPECT_TRUE(block->attention->probs_quant->observer().ready());
  s.mode = QuantMode::FakeQuant;
  set_quant_mode(*block, s);
  at::Tensor fake = block(x);
  EXPECT_GT((fake - fp).abs().max().item<double>(), 0.0);  // quantization really happens
  EXPECT_LT((fake - fp).norm().item<double>() / fp.norm().item<double>(), 0.1);
  s.mode = QuantMode::Int8;
  set_quant_mode(*block, s);
  at::Tensor int8 = block(x);
  EXPECT_NE(block->ffn_in->backend_name(), "fp32");
  EXPECT_LT((int8 - fp).norm().item<double>() / fp.norm().item<double>(), 0.1);
  EXPECT_LT((int8 - fake).norm().item<double>() / fp.norm().item<double>(), 0.05);
  s.mode = QuantMode::Off;
  set_quant_mode(*block, s);
  EXPECT_LT((block(x) - fp).abs().max().item<double>(), 1e-6);
}

TEST(Int8, ConvEngineMatchesTheExactIntegerConvolution) {
  at::manual_seed(12);
  at::Tensor w = at::randn({24, 16, 3, 3}) * at::rand({24, 1, 1, 1}) / 4.0, b = at::randn({24}) * 0.1;
  at::Tensor x = at::rand({2, 16, 12, 18}) * 2.0;
  Conv2dGeometry g;
  g.stride = 2;
  g.padding = 2;
  g.dilation = 2;
  at::Tensor fp = at::relu(at::conv2d(x, w, b, 2, 2, 2));
  QuantParams in = asymmetric_params(0.0, 2.0), out = asymmetric_params(0.0, fp.max().item<double>());
  at::Tensor reference = Int8Conv2d::create(w, b, g, Int8Backend::Reference)->forward(x, in, out, /*relu=*/true);
  // The reference is the integer convolution itself: its codes, rescaled, are the fake-quantized convolution.
  at::Tensor fake = fake_quantize(
      at::relu(at::conv2d(fake_quantize(x, in), fake_quantize_weight(w, /*per_channel=*/true), b, 2, 2, 2)), out);
  EXPECT_LE((reference - fake).abs().max().item<double>(), out.scale * 1.01);
  EXPECT_LT((reference - fp).norm().item<double>() / fp.norm().item<double>(), 0.03);
  if (available_int8_engines().empty()) GTEST_SKIP() << "no quantized engine in this LibTorch (reference checked)";
  auto engine = Int8Conv2d::create(w, b, g, Int8Backend::Engine);
  at::Tensor y = engine->forward(x, in, out, /*relu=*/true);
  ASSERT_EQ(y.sizes(), reference.sizes());
  EXPECT_LE((y - reference).abs().max().item<double>(), out.scale * 1.01) << engine->backend_name();
  EXPECT_GE(y.min().item<double>(), 0.0);
}

TEST(Int8, WeightCodesDequantizeToTheFakeQuantizedWeight) {
  at::manual_seed(13);
  at::Tensor w = at::randn({8, 5, 3, 3}) * at::rand({8, 1, 1, 1});
  for (bool per_channel : {false, true}) {
    WeightCodes codes = quantize_weight_codes(w, per_channel);
    EXPECT_EQ(codes.codes.scalar_type(), at::kChar);
    EXPECT_EQ(codes.scales.numel(), per_channel ? 8 : 1);
    EXPECT_LE(codes.codes.abs().max().item<int>(), 127);
    EXPECT_TRUE(at::allclose(dequantize_weight_codes(codes), fake_quantize_weight(w, per_channel), 1e-6, 1e-6));
    // Codes of the dequantized weight are the same codes: a stored model re-packs to the same int8 weights.
    EXPECT_TRUE(at::equal(quantize_weight_codes(dequantize_weight_codes(codes), per_channel).codes, codes.codes));
  }
}

TEST(W8A8, ConvLayerCalibratesAndAnUncalibratedPointIsAnError) {
  at::manual_seed(14);
  QuantConv2dOptions o;
  o.in_channels = 3;
  o.out_channels = 8;
  o.stride = 2;
  o.bias = true;
  QuantConv2d conv(o);
  torch::nn::Sequential model;
  model->push_back("conv", conv);
  model->push_back("head", QuantLinear(8, 4));
  at::NoGradGuard no_grad;
  at::Tensor x = at::rand({2, 3, 16, 16});
  QuantSettings s;
  s.mode = QuantMode::Calibrate;
  set_quant_mode(*model, s);
  conv(x, /*relu=*/true);  // the head never runs
  EXPECT_EQ(count_quant_points(*model), 4u);
  EXPECT_EQ(uncalibrated_points(*model), (std::vector<std::string>{"head.input_quant", "head.output_quant"}));
  s.mode = QuantMode::Int8;
  try {
    set_quant_mode(*model, s);
    FAIL() << "an uncalibrated point was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "quantization point head.input_quant was never calibrated (and 1 more)");
  }
  // Calibrated, the int8 convolution follows floating point closely.
  s.mode = QuantMode::Calibrate;
  set_quant_mode(*model, s);
  at::Tensor fp = conv(x, true);
  model[1]->as<QuantLinear>()->forward(fp.mean({2, 3}));
  s.mode = QuantMode::Int8;
  set_quant_mode(*model, s);
  EXPECT_NE(conv->backend_name(), "fp32");
  at::Tensor q = conv(x, true);
  EXPECT_LT((q - fp).norm().item<double>() / fp.norm().item<double>(), 0.05);
}
