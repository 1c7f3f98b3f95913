// Hopfield, HopfieldLayer, HopfieldPooling and the transformer block: equivalences, retrieval, masks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "hopfield/cuda/softmax1_attention.h"
#include "hopfield/hopfield.h"

using namespace vqa::hopfield;

namespace {
void copy_parameters(torch::nn::Module& from, torch::nn::Module& to) {
  at::NoGradGuard no_grad;
  auto source = from.named_parameters();
  for (auto& p : to.named_parameters()) p.value().copy_(source[p.key()]);
}
}  // namespace

TEST(Hopfield, ZeroAssociationWithSoftmaxEqualsSoftmax1Layer) {
  at::manual_seed(3);
  HopfieldOptions base;
  base.input_size = 12;
  base.stored_size = 10;
  base.projection_size = 6;
  base.num_heads = 3;
  base.head_size = 4;
  HopfieldOptions with_zero = base;
  with_zero.association.kind = AttentionKind::Softmax;
  with_zero.add_zero_association = true;
  HopfieldOptions outeffhop = base;
  outeffhop.association.kind = AttentionKind::Softmax1;
  Hopfield a(with_zero), b(outeffhop);
  a->to(at::kDouble);
  b->to(at::kDouble);
  copy_parameters(*a, *b);
  at::Tensor stored = at::randn({2, 7, 10}, at::kDouble) * 3;
  at::Tensor state = at::randn({2, 5, 12}, at::kDouble) * 3;
  at::Tensor projection = at::randn({2, 7, 6}, at::kDouble);
  at::Tensor mask = at::zeros({2, 7}, at::kBool);
  mask[0][6] = true;
  mask[1][0] = true;
  at::Tensor ya = a(stored, state, projection, mask), yb = b(stored, state, projection, mask);
  EXPECT_LT((ya - yb).abs().max().item<double>(), 1e-12);
  // The zero association takes exactly the weight Softmax_1 leaves out.
  at::Tensor wa = a->last_association(), wb = b->last_association();
  EXPECT_EQ(wa.size(-1), 8);
  EXPECT_LT((wa.narrow(-1, 0, 7) - wb).abs().max().item<double>(), 1e-12);
  EXPECT_LT((wa.select(-1, 7) - (1.0 - wb.sum(-1))).abs().max().item<double>(), 1e-12);
  // Multi-step updates agree as well.
  HopfieldOptions a3 = with_zero, b3 = outeffhop;
  a3.update_steps_max = b3.update_steps_max = 3;
  Hopfield a_steps(a3), b_steps(b3);
  a_steps->to(at::kDouble);
  b_steps->to(at::kDouble);
  copy_parameters(*a, *a_steps);
  copy_parameters(*a, *b_steps);
  EXPECT_LT((a_steps(stored, state, projection) - b_steps(stored, state, projection)).abs().max().item<double>(), 1e-12);
}

TEST(Hopfield, NoisyStatePatternConvergesToItsStoredPattern) {
  at::manual_seed(4);
  const int64_t M = 32, d = 64;
  // Well-separated random patterns: +-1 entries, pairwise overlap ~ N(0, 8) against self-overlap 64.
  at::Tensor patterns = at::sign(at::randn({M, d}, at::kDouble));
  for (AttentionKind kind : {AttentionKind::Softmax1, AttentionKind::Softmax}) {
    HopfieldOptions o;
    o.input_size = d;
    o.project_patterns = false;
    o.normalize_state = o.normalize_stored = o.normalize_projection = false;
    o.scaling = 0.25;
    o.update_steps_max = -1;  // until converged
    o.update_steps_eps = 1e-10;
    o.association.kind = kind;
    Hopfield net(o);
    at::Tensor stored = patterns.unsqueeze(0);
    // Flip 20% of the signs of every pattern and add Gaussian noise.
    at::Tensor flips = at::where(at::rand({M, d}, at::kDouble) < 0.2, -1.0, 1.0);
    at::Tensor state = (patterns * flips + 0.3 * at::randn({M, d}, at::kDouble)).unsqueeze(0);
    at::Tensor retrieved = net(stored, state, stored).squeeze(0);  // [M, d]
    EXPECT_GE(net->last_update_steps(), 2);
    at::Tensor nearest = at::matmul(retrieved, patterns.t()).argmax(1);
    EXPECT_TRUE(at::equal(nearest, at::arange(M, at::kLong))) << attention_kind_name(kind);
    const double error = (retrieved - patterns).abs().max().item<double>();
    EXPECT_LT(error, 1e-3) << attention_kind_name(kind);
    // One step from the noisy state is already close; iterating reaches the fixed point.
    at::Tensor again = net(stored, retrieved.unsqueeze(0), stored).squeeze(0);
    EXPECT_LT((again - retrieved).abs().max().item<double>(), 1e-6);
  }
}

TEST(Hopfield, MasksRemoveStoredPatterns) {
  at::manual_seed(5);
  HopfieldOptions o;
  o.input_size = 8;
  o.num_heads = 2;
  Hopfield net(o);
  at::Tensor x = at::randn({1, 6, 8});
  at::Tensor mask = at::zeros({1, 6}, at::kBool);
  mask[0][5] = true;
  at::Tensor masked = net(x, x, x, mask);
  // Changing the masked pattern changes nothing.
  at::Tensor x2 = x.clone();
  x2[0][5] = at::randn({8}) * 10;
  at::Tensor stored2 = x2, state = x;
  EXPECT_LT((net(stored2, state, stored2, mask) - masked).abs().max().item<double>(), 1e-6);
  // An association mask [T, S] (causal) gives each state its own visible set.
  at::Tensor causal = at::triu(at::ones({6, 6}, at::kBool), 1);
  net(x, x, x, at::Tensor(), causal);
  EXPECT_EQ(net->last_association()[0][0][0].narrow(0, 1, 5).abs().max().item<double>(), 0.0);
}

TEST(Hopfield, LayerAndPoolingShapesAndGradients) {
  HopfieldOptions o;
  o.input_size = 16;
  o.num_heads = 4;
  for (AttentionKind kind : {AttentionKind::Softmax1, AttentionKind::Softmax, AttentionKind::Clipped, AttentionKind::Gated}) {
    o.association.kind = kind;
    HopfieldLayer lookup(o, 10);
    at::Tensor state = at::randn({3, 5, 16}, at::TensorOptions().requires_grad(true));
    at::Tensor out = lookup(state);
    EXPECT_EQ(out.sizes(), at::IntArrayRef({3, 5, 16}));
    out.pow(2).sum().backward();
    EXPECT_GT(lookup->lookup_weights.grad().abs().sum().item<double>(), 0.0);

    HopfieldPooling pooling(o, 2);
    at::Tensor pooled = pooling(state);
    EXPECT_EQ(pooled.sizes(), at::IntArrayRef({3, 2, 16}));
    pooled.pow(2).sum().backward();
    EXPECT_GT(pooling->pooling_weights.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(Hopfield, TransformerBlockRunsEveryVariantAndIgnoresPadding) {
  for (AttentionKind kind : {AttentionKind::Softmax1, AttentionKind::Softmax, AttentionKind::Clipped, AttentionKind::Gated}) {
    TransformerBlockOptions o;
    o.model_size = 16;
    o.num_heads = 2;
    o.ffn_size = 32;
    o.association.kind = kind;
    TransformerBlock block(o);
    at::Tensor x = at::randn({2, 7, 16});
    at::Tensor padding = at::zeros({2, 7}, at::kBool);
    padding[0].narrow(0, 5, 2).fill_(true);
    at::Tensor y = block(x, padding);
    EXPECT_EQ(y.sizes(), x.sizes());
    at::Tensor x2 = x.clone();
    x2[0].narrow(0, 5, 2).normal_();
    EXPECT_LT((block(x2, padding)[0].narrow(0, 0, 5) - y[0].narrow(0, 0, 5)).abs().max().item<double>(), 1e-5)
        << attention_kind_name(kind);
  }
}

TEST(Hopfield, PreNormBlockKeepsTheResidualStreamUnnormalised) {
  TransformerBlockOptions o;
  o.model_size = 16;
  o.num_heads = 2;
  o.ffn_size = 32;
  o.pre_norm = true;
  TransformerBlock block(o);
  at::Tensor x = 10 * at::randn({2, 5, 16});
  at::Tensor padding = at::zeros({2, 5}, at::kBool);
  // h = x + attention(LN(x)); y = h + FFN(LN(h)).
  const at::Tensor xn = block->norm_attention(x);
  const at::Tensor h = x + block->attention(xn, xn, xn, padding);
  const at::Tensor expected = h + block->ffn_out(at::gelu(block->ffn_in(block->norm_ffn(h))));
  const at::Tensor y = block(x, padding);
  EXPECT_LT((y - expected).abs().max().item<double>(), 1e-5);
  // The residual stream keeps the input's scale (a post-LN block would bring it to unit variance).
  EXPECT_GT(y.std().item<double>(), 5.0);
}

TEST(Softmax1Attention, CpuPathMatchesTheHopfieldComposition) {
  at::manual_seed(6);
  at::Tensor q = at::randn({2, 3, 5, 8}, at::kDouble), k = at::randn({2, 3, 9, 8}, at::kDouble),
             v = at::randn({2, 3, 9, 4}, at::kDouble);
  at::Tensor mask = at::zeros({2, 9}, at::kBool);
  mask[1].fill_(true);
  at::Tensor out = softmax1_attention(q, k, v, mask, 0.5);
  at::Tensor scores = 0.5 * at::matmul(q, k.transpose(-2, -1));
  at::Tensor expected = at::matmul(softmax1_by_padding(scores, -1), v);
  EXPECT_LT((out[0] - expected[0]).abs().max().item<double>(), 1e-12);
  EXPECT_EQ(out[1].abs().max().item<double>(), 0.0);
}
