// Hopfield, HopfieldLayer, HopfieldPooling and the transformer block.
#include "hopfield/hopfield.h"

#include <torch/nn/init.h>

#include <cmath>

#include "hopfield/cuda/softmax1_attention.h"
#include "hopfield/int8.h"
#include "hopfield/outliers.h"

namespace vqa::hopfield {

namespace {
constexpr int kMaxUpdateStepsUntilConvergence = 100;

torch::nn::LayerNorm layer_norm(int64_t size) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({size}));
}
}  // namespace

HopfieldImpl::HopfieldImpl(HopfieldOptions options) : options_(std::move(options)) { reset(); }

void HopfieldImpl::reset() {
  HopfieldOptions& o = options_;
  TORCH_CHECK(o.input_size > 0, "Hopfield: input_size must be positive");
  if (o.stored_size == 0) o.stored_size = o.input_size;
  if (o.projection_size == 0) o.projection_size = o.stored_size;
  if (o.project_patterns) {
    heads_ = o.num_heads;
    head_size_ = o.head_size > 0 ? o.head_size : o.input_size / o.num_heads;
    TORCH_CHECK(head_size_ > 0, "Hopfield: head size must be positive");
    value_size_ = head_size_;
    if (o.output_size == 0) o.output_size = o.input_size;
  } else {
    TORCH_CHECK(o.stored_size == o.input_size, "Hopfield: static patterns need stored_size == input_size");
    heads_ = 1;
    head_size_ = o.input_size;
    value_size_ = o.projection_size;
    o.output_size = o.projection_size;
  }
  beta_ = o.scaling > 0 ? o.scaling : 1.0 / std::sqrt(static_cast<double>(head_size_));

  if (o.normalize_state) norm_state = register_module("norm_state", layer_norm(o.input_size));
  if (o.normalize_stored) norm_stored = register_module("norm_stored", layer_norm(o.stored_size));
  if (o.normalize_projection) norm_projection = register_module("norm_projection", layer_norm(o.projection_size));
  if (o.project_patterns) {
    const bool bias = o.projection_bias;
    q_proj = register_module("q_proj", QuantLinear(o.input_size, heads_ * head_size_, bias));
    k_proj = register_module("k_proj", QuantLinear(o.stored_size, heads_ * head_size_, bias));
    v_proj = register_module("v_proj", QuantLinear(o.projection_size, heads_ * value_size_, bias));
    out_proj = register_module("out_proj", QuantLinear(heads_ * value_size_, o.output_size, bias));
  }
  scores_quant = register_module("scores_quant", ActQuantizer());
  probs_quant = register_module("probs_quant", ActQuantizer());
  if (o.association.kind == AttentionKind::Gated) {
    TORCH_CHECK(o.input_size % heads_ == 0, "Hopfield: gated attention needs input_size divisible by num_heads");
    const int64_t slice = o.input_size / heads_;
    const double bound = 1.0 / std::sqrt(static_cast<double>(slice));
    const double pi = o.association.gate_init_pi;
    gate_weight = register_parameter("gate_weight", at::empty({heads_, slice}));
    torch::nn::init::uniform_(gate_weight, -bound, bound);
    gate_bias = register_parameter("gate_bias", at::full({heads_}, std::log(pi / (1.0 - pi))));
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout));
}

at::Tensor HopfieldImpl::scores(const at::Tensor& q, const at::Tensor& k) const {
  if (scores_quant->mode() == QuantMode::Int8 && q_proj && q_proj->output_quant->observer().ready() &&
      k_proj->output_quant->observer().ready()) {
    return beta_ * int8_matmul(q, q_proj->output_quant->params(), k.transpose(-2, -1), k_proj->output_quant->params());
  }
  return beta_ * at::matmul(q, k.transpose(-2, -1));
}

at::Tensor HopfieldImpl::retrieve(const at::Tensor& probs, const at::Tensor& v) const {
  if (probs_quant->mode() == QuantMode::Int8 && v_proj && probs_quant->observer().ready() &&
      v_proj->output_quant->observer().ready()) {
    return int8_matmul(probs, probs_quant->params(), v, v_proj->output_quant->params());
  }
  return at::matmul(probs, v);
}

bool HopfieldImpl::uses_fused_attention(const at::Tensor& q, int max_steps, bool has_association_mask) const {
  return fused_softmax1_attention_compiled() && q.is_cuda() && q.scalar_type() == at::kFloat &&
         options_.association.kind == AttentionKind::Softmax1 && !options_.add_zero_association && max_steps == 1 &&
         !has_association_mask && scores_quant->mode() == QuantMode::Off && probs_quant->mode() == QuantMode::Off &&
         !(is_training() && options_.dropout > 0.0);
}

at::Tensor HopfieldImpl::retrieve_steps(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask, int max_steps) {
  at::Tensor query = q, probs, previous;
  int step = 0;
  while (true) {
    // Scores are quantized before masking: the mask value is not an activation.
    at::Tensor s = scores_quant(scores(query, k));
    if (mask.defined()) s = s.masked_fill(mask, masked_score_value(s.scalar_type()));
    probs = probs_quant(associate(s, -1, options_.association));
    ++step;
    if (step >= max_steps) break;
    if (previous.defined() && (probs - previous).abs().max().item<double>() < options_.update_steps_eps) break;
    previous = probs.detach();
    query = at::matmul(probs, k);  // re-query in key space
  }
  last_update_steps_ = step;
  last_association_ = probs.detach();
  return retrieve(dropout_(probs), v);
}

at::Tensor HopfieldImpl::forward(const at::Tensor& stored, const at::Tensor& state, const at::Tensor& projection,
                                 const at::Tensor& stored_padding_mask, const at::Tensor& association_mask) {
  const HopfieldOptions& o = options_;
  TORCH_CHECK(stored.dim() == 3 && state.dim() == 3 && projection.dim() == 3,
              "Hopfield: patterns must be [batch, count, features]");
  const int64_t B = state.size(0), T = state.size(1), S = stored.size(1);
  at::Tensor r = norm_state ? norm_state(state) : state;
  at::Tensor y = norm_stored ? norm_stored(stored) : stored;
  at::Tensor yp = norm_projection ? norm_projection(projection) : projection;

  at::Tensor q, k, v;
  if (o.project_patterns) {
    q = q_proj(r).view({B, T, heads_, head_size_}).transpose(1, 2);
    k = k_proj(y).view({B, S, heads_, head_size_}).transpose(1, 2);
    v = v_proj(yp).view({B, S, heads_, value_size_}).transpose(1, 2);
  } else {
    q = r.unsqueeze(1);
    k = y.unsqueeze(1);
    v = yp.unsqueeze(1);
  }
  if (o.add_zero_association) {
    k = at::cat({k, at::zeros({B, heads_, 1, head_size_}, k.options())}, 2);
    v = at::cat({v, at::zeros({B, heads_, 1, value_size_}, v.options())}, 2);
  }

  at::Tensor mask;  // [B or 1, 1, T or 1, S], true = ignore
  if (stored_padding_mask.defined()) mask = stored_padding_mask.to(at::kBool).view({B, 1, 1, S});
  if (association_mask.defined()) {
    at::Tensor am = association_mask.to(at::kBool);
    am = am.dim() == 2 ? am.view({1, 1, T, S}) : am.view({B, 1, T, S});
    mask = mask.defined() ? at::logical_or(mask, am) : am;
  }
  if (mask.defined() && o.add_zero_association) {
    std::vector<int64_t> pad_shape = mask.sizes().vec();
    pad_shape.back() = 1;
    mask = at::cat({mask, at::zeros(pad_shape, mask.options())}, -1);
  }

  const int max_steps = o.update_steps_max == 0 ? 1
                        : o.update_steps_max > 0 ? o.update_steps_max
                                                 : kMaxUpdateStepsUntilConvergence;
  at::Tensor context;  // [B, H, T, value]
  if (uses_fused_attention(q, max_steps, association_mask.defined())) {
    // The whole retrieval in one CUDA kernel; its association weights are not materialised.
    context = softmax1_attention(q, k, v, stored_padding_mask, beta_);
    last_update_steps_ = 1;
    last_association_ = at::Tensor();
  } else {
    context = retrieve_steps(q, k, v, mask, max_steps);
  }

  if (o.association.kind == AttentionKind::Gated) {
    at::Tensor slices = state.view({B, T, heads_, o.input_size / heads_});
    at::Tensor gate = at::sigmoid((slices * gate_weight).sum(-1) + gate_bias);  // [B, T, H]
    context = context * gate.transpose(1, 2).unsqueeze(-1);
  }
  if (!o.project_patterns) return context.squeeze(1);
  return out_proj(context.transpose(1, 2).reshape({B, T, heads_ * value_size_}));
}

HopfieldLayerImpl::HopfieldLayerImpl(HopfieldOptions options, int64_t quantity)
    : options_(std::move(options)), quantity_(quantity) {
  reset();
}

void HopfieldLayerImpl::reset() {
  HopfieldOptions o = options_;
  o.stored_size = o.input_size;
  o.projection_size = o.input_size;
  hopfield = register_module("hopfield", Hopfield(o));
  lookup_weights = register_parameter("lookup_weights", at::empty({1, quantity_, o.input_size}));
  torch::nn::init::normal_(lookup_weights, 0.0, 0.02);
}

at::Tensor HopfieldLayerImpl::forward(const at::Tensor& state, const at::Tensor& association_mask) {
  at::Tensor stored = lookup_weights.expand({state.size(0), quantity_, lookup_weights.size(2)});
  return hopfield(stored, state, stored, at::Tensor(), association_mask);
}

HopfieldPoolingImpl::HopfieldPoolingImpl(HopfieldOptions options, int64_t quantity)
    : options_(std::move(options)), quantity_(quantity) {
  reset();
}

void HopfieldPoolingImpl::reset() {
  HopfieldOptions o = options_;
  if (o.stored_size == 0) o.stored_size = o.input_size;
  hopfield = register_module("hopfield", Hopfield(o));
  pooling_weights = register_parameter("pooling_weights", at::empty({1, quantity_, o.input_size}));
  torch::nn::init::normal_(pooling_weights, 0.0, 0.02);
}

at::Tensor HopfieldPoolingImpl::forward(const at::Tensor& input, const at::Tensor& stored_padding_mask) {
  at::Tensor state = pooling_weights.expand({input.size(0), quantity_, pooling_weights.size(2)});
  return hopfield(input, state, input, stored_padding_mask);
}

TransformerBlockImpl::TransformerBlockImpl(TransformerBlockOptions options) : options_(std::move(options)) {
  reset();
}

void TransformerBlockImpl::reset() {
  HopfieldOptions h;
  h.input_size = options_.model_size;
  h.num_heads = options_.num_heads;
  h.normalize_state = h.normalize_stored = h.normalize_projection = false;
  h.dropout = options_.dropout;
  h.projection_bias = options_.bias;
  h.association = options_.association;
  attention = register_module("attention", Hopfield(h));
  norm_attention = register_module("norm_attention", layer_norm(options_.model_size));
  norm_ffn = register_module("norm_ffn", layer_norm(options_.model_size));
  ffn_in = register_module("ffn_in", QuantLinear(options_.model_size, options_.ffn_size, options_.bias));
  ffn_out = register_module("ffn_out", QuantLinear(options_.ffn_size, options_.model_size, options_.bias));
  attention_residual_quant = register_module("attention_residual_quant", ActQuantizer());
  ffn_residual_quant = register_module("ffn_residual_quant", ActQuantizer());
  dropout_ = register_module("dropout", torch::nn::Dropout(options_.dropout));
}

void TransformerBlockImpl::track_outliers(OutlierStats* stats, std::string name) {
  stats_ = stats;
  name_ = std::move(name);
}

at::Tensor TransformerBlockImpl::forward(const at::Tensor& x, const at::Tensor& padding_mask) {
  if (options_.pre_norm) {
    const at::Tensor xn = norm_attention(x);
    at::Tensor a = attention(xn, xn, xn, padding_mask);
    if (stats_) stats_->record(name_ + ".attn", a);
    at::Tensor h = attention_residual_quant(x + dropout_(a));
    at::Tensor f = ffn_out(at::gelu(ffn_in(norm_ffn(h))));
    if (stats_) stats_->record(name_ + ".ffn", f);
    at::Tensor r = ffn_residual_quant(h + dropout_(f));
    if (stats_) stats_->record(name_ + ".residual", r);
    return r;
  }
  at::Tensor a = attention(x, x, x, padding_mask);
  if (stats_) stats_->record(name_ + ".attn", a);
  at::Tensor h = norm_attention(attention_residual_quant(x + dropout_(a)));
  at::Tensor f = ffn_out(at::gelu(ffn_in(h)));
  if (stats_) stats_->record(name_ + ".ffn", f);
  at::Tensor r = ffn_residual_quant(h + dropout_(f));
  if (stats_) stats_->record(name_ + ".residual", r);
  return norm_ffn(r);
}

}  // namespace vqa::hopfield
