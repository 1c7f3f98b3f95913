// Softmax_1 and the baseline associations: definition, masking, gradients.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "gradcheck.h"
#include "hopfield/association.h"
#include "hopfield/hopfield.h"

using namespace vqa::hopfield;
using vqa::hopfield::testing::gradcheck_max_error;

TEST(Softmax1, EqualsSoftmaxOverZeroPaddedRowWithLastColumnDropped) {
  at::manual_seed(0);
  at::Tensor x = at::randn({64, 17}, at::kDouble) * 6.0;  // includes rows whose max is negative
  x[3].fill_(-30.0);
  x[4].fill_(40.0);
  at::Tensor padded = at::cat({x, at::zeros({64, 1}, at::kDouble)}, 1);
  at::Tensor reference = at::softmax(padded, 1).narrow(1, 0, 17);
  EXPECT_LT((softmax1(x, 1) - reference).abs().max().item<double>(), 1e-12);
  EXPECT_LT((softmax1_by_padding(x, -1) - reference).abs().max().item<double>(), 1e-12);
  // Along another dimension too.
  at::Tensor y = at::randn({5, 9, 4}, at::kDouble);
  at::Tensor ref_y = at::softmax(at::cat({y, at::zeros({5, 1, 4}, at::kDouble)}, 1), 1).narrow(1, 0, 9);
  EXPECT_LT((softmax1(y, 1) - ref_y).abs().max().item<double>(), 1e-12);
}

TEST(Softmax1, RowsSumBelowOneAndAreNotShiftInvariant) {
  at::Tensor x = at::tensor({5.0, 5.0}, at::kDouble);
  at::Tensor y = softmax1(x, 0);
  // exp(5) / (1 + 2 exp(5)) = 0.49831..., not the 1/3 of the "subtract the max" variant.
  EXPECT_NEAR(y[0].item<double>(), std::exp(5.0) / (1.0 + 2.0 * std::exp(5.0)), 1e-12);
  EXPECT_GT((softmax1(x + 3.0, 0) - y).abs().max().item<double>(), 1e-4);
  EXPECT_LT(y.sum().item<double>(), 1.0);
}

TEST(Softmax1, VeryNegativeAndFullyMaskedRowsGiveZeroWithFiniteGradients) {
  for (auto dtype : {at::kDouble, at::kFloat}) {
    at::Tensor x = at::randn({4, 6}, dtype);
    x[1].fill_(-1e4);
    x[2].fill_(masked_score_value(dtype));  // fully masked row
    x = x.set_requires_grad(true);
    at::Tensor y = softmax1(x, 1);
    EXPECT_EQ(y[1].abs().max().item<double>(), 0.0);
    EXPECT_EQ(y[2].abs().max().item<double>(), 0.0);
    EXPECT_GT(y[0].sum().item<double>(), 0.0);
    at::Tensor g = torch::autograd::grad({(y * at::randn_like(y)).sum()}, {x})[0];
    EXPECT_TRUE(at::isfinite(g).all().item<bool>());
    EXPECT_EQ(g[1].abs().max().item<double>(), 0.0);
    EXPECT_EQ(g[2].abs().max().item<double>(), 0.0);
  }
}

TEST(Softmax1, FullyMaskedRowThroughAHopfieldLayerGivesZeroRetrievalAndFiniteGradients) {
  HopfieldOptions o;
  o.input_size = 8;
  o.num_heads = 2;
  Hopfield layer(o);
  at::Tensor x = at::randn({2, 5, 8}).set_requires_grad(true);
  at::Tensor mask = at::zeros({2, 5}, at::kBool);
  mask[1].fill_(true);  // every stored pattern of sample 1 is masked
  at::Tensor out = layer(x, x, x, mask);
  EXPECT_EQ(layer->last_association()[1].abs().max().item<double>(), 0.0);
  out.sum().backward();
  EXPECT_TRUE(at::isfinite(x.grad()).all().item<bool>());
  for (const auto& p : layer->parameters()) EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>());
}

TEST(Associations, GradientsMatchFiniteDifferences) {
  at::manual_seed(1);
  at::Tensor x = at::randn({3, 7}, at::kDouble) * 2.0;
  auto check = [&](const AssociationOptions& options) {
    return gradcheck_max_error([&](const std::vector<at::Tensor>& in) { return associate(in[0], 1, options); }, {x});
  };
  AssociationOptions o;
  o.kind = AttentionKind::Softmax1;
  EXPECT_LT(check(o), 1e-8);
  o.kind = AttentionKind::Softmax;
  EXPECT_LT(check(o), 1e-8);
  o.kind = AttentionKind::Clipped;
  o.clip_gamma = -0.03;
  o.clip_zeta = 1.0;
  EXPECT_LT(check(o), 1e-8);
  // Softmax_1 along a middle dimension, and on rows with a very negative entry.
  at::Tensor z = at::randn({2, 5, 3}, at::kDouble);
  z[0][2][1] = -50.0;
  EXPECT_LT(gradcheck_max_error([](const std::vector<at::Tensor>& in) { return softmax1(in[0], 1); }, {z}), 1e-8);
}

TEST(Associations, ClippedSoftmaxReachesExactZerosAndOnes) {
  at::Tensor x = at::tensor({10.0, -5.0, -5.0, -5.0}, at::kDouble);
  at::Tensor y = clipped_softmax(x, 0, -0.025, 1.03);
  EXPECT_EQ(y[1].item<double>(), 0.0);
  EXPECT_EQ(y[0].item<double>(), 1.0);
}

TEST(Associations, GatedHopfieldGradientsMatchFiniteDifferences) {
  at::manual_seed(2);
  for (AttentionKind kind : {AttentionKind::Gated, AttentionKind::Softmax1, AttentionKind::Clipped}) {
    HopfieldOptions o;
    o.input_size = 4;
    o.num_heads = 2;
    o.association.kind = kind;
    o.association.clip_gamma = -0.02;
    o.association.gate_init_pi = 0.25;
    Hopfield layer(o);
    layer->to(at::kDouble);
    at::Tensor x = at::randn({2, 3, 4}, at::kDouble);
    const double err = gradcheck_max_error(
        [&](const std::vector<at::Tensor>& in) { return layer(in[0], in[0], in[0]); }, {x});
    EXPECT_LT(err, 1e-7) << attention_kind_name(kind);
    if (kind == AttentionKind::Gated) {
      EXPECT_NEAR(layer->gate_bias[0].item<double>(), std::log(0.25 / 0.75), 1e-7);  // initialised in float
    }
    // Every parameter of the layer (projections, and the gate for the gated variant).
    for (auto& p : layer->named_parameters()) {
      const double perr = vqa::hopfield::testing::gradcheck_parameter_max_error([&] { return layer(x, x, x); }, p.value());
      EXPECT_LT(perr, 1e-7) << attention_kind_name(kind) << " " << p.key();
    }
  }
}

TEST(Associations, VariantNamesRoundTrip) {
  for (const char* name : {"softmax1", "softmax", "clipped", "gated"})
    EXPECT_EQ(attention_kind_name(parse_attention_kind(name)), name);
  EXPECT_THROW(parse_attention_kind("softmax2"), std::invalid_argument);
}
