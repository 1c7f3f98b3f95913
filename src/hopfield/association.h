// Associations: the normalisers that turn Hopfield scores into retrieval weights. Softmax_1 (OutEffHop)
// is the default; softmax, clipped softmax and gated attention are the outlier baselines. One
// AttentionKind selects the variant for a whole model.
#pragma once
#include <ATen/ATen.h>

#include <string>

namespace vqa::hopfield {

enum class AttentionKind { Softmax1, Softmax, Clipped, Gated };

// "softmax1" | "softmax" | "clipped" | "gated"; throws std::invalid_argument on anything else.
AttentionKind parse_attention_kind(const std::string& name);
std::string attention_kind_name(AttentionKind kind);

struct AssociationOptions {
  AttentionKind kind = AttentionKind::Softmax1;
  // Clipped softmax: clip((zeta - gamma) * softmax(x) + gamma, 0, 1). Bondarenko et al. use gamma = -alpha / T.
  double clip_gamma = -0.025;
  double clip_zeta = 1.0;
  // Gated attention: per-head gate sigmoid(w . x_head + b) with b = logit(gate_init_pi).
  double gate_init_pi = 0.5;
};

// Softmax_1(x)_i = exp(x_i) / (1 + sum_j exp(x_j)), in the stable form
// m = max(stopgrad(max_j x_j), 0); y = exp(x - m) / (exp(-m) + sum_j exp(x - m)).
// m >= 0 keeps exp(-m) <= 1, so rows of very negative (or masked) scores give exactly 0 with finite
// gradients. Backward is y * (g - <g, y>), the softmax Jacobian form.
at::Tensor softmax1(const at::Tensor& x, int64_t dim);

// Reference definition: softmax over [x, 0] with the extra column dropped (used by tests and benches).
at::Tensor softmax1_by_padding(const at::Tensor& x, int64_t dim);

at::Tensor clipped_softmax(const at::Tensor& x, int64_t dim, double gamma, double zeta);

// The normaliser of a variant applied to scores along `dim`. Gated attention normalises with softmax;
// its gate multiplies the retrieved values and lives in the Hopfield layer.
at::Tensor associate(const at::Tensor& scores, int64_t dim, const AssociationOptions& options);

// The value written into masked score positions: the dtype's lowest finite value, so every variant stays
// finite (Softmax_1 gives 0 on a fully masked row, softmax a uniform row).
double masked_score_value(at::ScalarType dtype);

}  // namespace vqa::hopfield
