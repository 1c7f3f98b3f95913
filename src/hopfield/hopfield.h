// Modern Hopfield layers (Ramsauer et al.) with a switchable association: Hopfield (state, stored and
// projected patterns), HopfieldLayer (learned stored patterns), HopfieldPooling (learned state
// patterns), and a post-LN transformer block whose self-attention is a Hopfield layer.
//
//   xi  = associate(beta * (R W_q)(Y W_k)^T + mask)          one update step
//   xi' = associate(beta * (xi Y W_k)(Y W_k)^T + mask)       further steps re-query in key space
//   Z   = gate * (xi (Y_p W_v)) W_o                          gate = 1 unless the variant is gated
//
// With AttentionKind::Softmax1 this is OutEffHop: an extra zero memory whose similarity is always 0
// gives heads a no-op. Every projection, the scores and the probabilities carry a quantization point. On CUDA
// the common Softmax_1 case runs the fused kernel of src/hopfield/cuda (uses_fused_attention).
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <string>

#include "hopfield/association.h"
#include "hopfield/quantization.h"

namespace vqa::hopfield {

class OutlierStats;

struct HopfieldOptions {
  int64_t input_size = 0;       // state pattern width (R)
  int64_t stored_size = 0;      // stored pattern width (Y); 0: input_size
  int64_t projection_size = 0;  // pattern projection width (Y_p); 0: stored_size
  int64_t num_heads = 1;
  int64_t head_size = 0;        // association space per head; 0: input_size / num_heads
  int64_t output_size = 0;      // 0: input_size
  double scaling = 0.0;         // beta; 0: 1 / sqrt(head_size)
  // false: static patterns, Q = R, K = Y, V = Y_p (one head, no projections, no output projection).
  bool project_patterns = true;
  bool normalize_state = true;
  bool normalize_stored = true;
  bool normalize_projection = true;
  bool projection_bias = true;  // biases in the query, key, value and output projections
  // 0: a single update step; n > 0: at most n steps; n < 0: until the weights change by less than eps.
  int update_steps_max = 0;
  double update_steps_eps = 1e-4;
  // Appends a zero key and a zero value after projection (with softmax this is Softmax_1).
  bool add_zero_association = false;
  double dropout = 0.0;
  AssociationOptions association;
};

class HopfieldImpl : public torch::nn::Cloneable<HopfieldImpl> {
 public:
  explicit HopfieldImpl(HopfieldOptions options);
  void reset() override;

  // stored [B, S, stored_size], state [B, T, input_size], projection [B, S, projection_size].
  // stored_padding_mask [B, S] and association_mask [T, S] or [B, T, S] are bool, true = ignore;
  // pass undefined tensors for none. Returns [B, T, output_size].
  at::Tensor forward(const at::Tensor& stored, const at::Tensor& state, const at::Tensor& projection,
                     const at::Tensor& stored_padding_mask = {}, const at::Tensor& association_mask = {});

  // The association weights of the last forward call, [B, H, T, S] (S + 1 with the zero association); undefined
  // after a call on the fused CUDA path, which never materialises them.
  const at::Tensor& last_association() const { return last_association_; }
  // Whether a call with these projected queries takes the fused CUDA Softmax_1 kernel (src/hopfield/cuda): the
  // kernel is compiled in, the tensors are CUDA floats, the association is Softmax_1 with one update step, there
  // is no association mask (a key padding mask is fine), no quantization and no dropout in training.
  bool uses_fused_attention(const at::Tensor& q, int max_steps, bool has_association_mask) const;
  int last_update_steps() const { return last_update_steps_; }
  const HopfieldOptions& options() const { return options_; }

  torch::nn::LayerNorm norm_state{nullptr}, norm_stored{nullptr}, norm_projection{nullptr};
  QuantLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  ActQuantizer scores_quant{nullptr}, probs_quant{nullptr};
  at::Tensor gate_weight, gate_bias;  // [H, input_size / H], [H]; gated variant only

 private:
  at::Tensor scores(const at::Tensor& q, const at::Tensor& k) const;
  at::Tensor retrieve(const at::Tensor& probs, const at::Tensor& v) const;
  // The unfused retrieval: scores, association and update steps, then the values; records the weights.
  at::Tensor retrieve_steps(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                            int max_steps);

  HopfieldOptions options_;
  int64_t heads_ = 1, head_size_ = 0, value_size_ = 0;
  double beta_ = 1.0;
  torch::nn::Dropout dropout_{nullptr};
  at::Tensor last_association_;
  int last_update_steps_ = 0;
};
TORCH_MODULE(Hopfield);

// Learned stored patterns (lookup_weights, N(0, 0.02)) that also serve as the pattern projection; the
// input is the state pattern.
class HopfieldLayerImpl : public torch::nn::Cloneable<HopfieldLayerImpl> {
 public:
  HopfieldLayerImpl(HopfieldOptions options, int64_t quantity);
  void reset() override;
  at::Tensor forward(const at::Tensor& state, const at::Tensor& association_mask = {});

  Hopfield hopfield{nullptr};
  at::Tensor lookup_weights;  // [1, quantity, input_size]

 private:
  HopfieldOptions options_;
  int64_t quantity_;
};
TORCH_MODULE(HopfieldLayer);

// Learned state patterns (pooling_weights, N(0, 0.02)) query the input, which is stored pattern and
// projection: [B, S, D] -> [B, quantity, output_size].
class HopfieldPoolingImpl : public torch::nn::Cloneable<HopfieldPoolingImpl> {
 public:
  HopfieldPoolingImpl(HopfieldOptions options, int64_t quantity);
  void reset() override;
  at::Tensor forward(const at::Tensor& input, const at::Tensor& stored_padding_mask = {});

  Hopfield hopfield{nullptr};
  at::Tensor pooling_weights;  // [1, quantity, input_size]

 private:
  HopfieldOptions options_;
  int64_t quantity_;
};
TORCH_MODULE(HopfieldPooling);

struct TransformerBlockOptions {
  int64_t model_size = 64;
  int64_t num_heads = 4;
  int64_t ffn_size = 256;
  double dropout = 0.0;
  bool pre_norm = false;  // pre-LN (OPT/GPT layout) instead of post-LN (BERT layout)
  bool bias = true;       // biases in the attention projections and the FFN's linear layers
  AssociationOptions association;
};

// Encoder block. Post-LN (BERT layout): h = LN(x + Hopfield(x, x, x)); y = LN(h + FFN(h)).
// Pre-LN (OPT layout): h = x + Hopfield(LN(x)); y = h + FFN(LN(h)), the residual stream never normalised.
// Tracked for outlier statistics: "<name>.attn" (attention output), "<name>.ffn" (FFN output) and
// "<name>.residual" (h + FFN(h): the LayerNorm input in post-LN, the residual stream in pre-LN).
class TransformerBlockImpl : public torch::nn::Cloneable<TransformerBlockImpl> {
 public:
  explicit TransformerBlockImpl(TransformerBlockOptions options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& padding_mask = {});
  void track_outliers(OutlierStats* stats, std::string name);

  Hopfield attention{nullptr};
  torch::nn::LayerNorm norm_attention{nullptr}, norm_ffn{nullptr};
  QuantLinear ffn_in{nullptr}, ffn_out{nullptr};
  ActQuantizer attention_residual_quant{nullptr}, ffn_residual_quant{nullptr};

 private:
  TransformerBlockOptions options_;
  torch::nn::Dropout dropout_{nullptr};
  OutlierStats* stats_ = nullptr;
  std::string name_;
};
TORCH_MODULE(TransformerBlock);

}  // namespace vqa::hopfield
