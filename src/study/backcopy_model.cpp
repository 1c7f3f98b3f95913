// Causal Hopfield language model for the Bigram-Backcopy study: construction, the causal pre-LN forward
// pass with outlier tracking, and the attention mass on <bos>.
#include "study/backcopy_model.h"

#include <torch/nn/init.h>

#include <string>

namespace vqa::study {

using namespace vqa::hopfield;

CausalHopfieldLMImpl::CausalHopfieldLMImpl(BackcopyModelOptions options) : options_(std::move(options)) { reset(); }

void CausalHopfieldLMImpl::reset() {
  const BackcopyModelOptions& o = options_;
  embedding = register_module("embedding", torch::nn::Embedding(o.token_count, o.model_size));
  torch::nn::init::normal_(embedding->weight, 0.0, 1.0);
  positions = register_parameter("positions", at::empty({o.max_length, o.model_size}));
  torch::nn::init::normal_(positions, 0.0, 0.02);
  embedding_quant = register_module("embedding_quant", ActQuantizer());
  blocks.clear();
  for (int64_t i = 0; i < o.layers; ++i) {
    TransformerBlockOptions b;
    b.model_size = o.model_size;
    b.num_heads = o.num_heads;
    b.ffn_size = o.ffn_size;
    b.pre_norm = true;
    b.bias = o.bias;
    b.association = o.association;
    blocks.push_back(register_module("block" + std::to_string(i), TransformerBlock(b)));
  }
  final_norm = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.model_size})));
  head = register_module("head", torch::nn::Linear(o.model_size, o.token_count));
}

void CausalHopfieldLMImpl::track_outliers(OutlierStats* all_positions, OutlierStats* without_first) {
  all_positions_ = all_positions;
  without_first_ = without_first;
}

void CausalHopfieldLMImpl::record(const std::string& name, const at::Tensor& activation) {
  if (all_positions_) all_positions_->record(name, activation);
  if (without_first_ && activation.size(1) > 1)
    without_first_->record(name, activation.narrow(1, 1, activation.size(1) - 1));
}

at::Tensor CausalHopfieldLMImpl::forward(const at::Tensor& tokens) {
  const int64_t length = tokens.size(1);
  TORCH_CHECK(length <= options_.max_length, "CausalHopfieldLM: sequence longer than max_length");
  // true = ignore: query t may not see keys after t.
  const at::Tensor causal = at::ones({length, length}, tokens.options().dtype(at::kBool)).triu(1);
  at::Tensor x = embedding_quant(embedding(tokens) + positions.narrow(0, 0, length).unsqueeze(0));
  for (size_t i = 0; i < blocks.size(); ++i) {
    TransformerBlockImpl& block = *blocks[i];
    const std::string name = "block" + std::to_string(i);
    // Pre-LN, as TransformerBlock does it (h = x + A(LN(x)); y = h + FFN(LN(h))), with the causal mask
    // and a ReLU MLP. Dropout is 0 in this study.
    const at::Tensor xn = block.norm_attention(x);
    const at::Tensor a = block.attention(xn, xn, xn, at::Tensor(), causal);
    record(name + ".attn", a);
    const at::Tensor h = block.attention_residual_quant(x + a);
    record(name + ".attn_residual", h);
    const at::Tensor f = block.ffn_out(at::relu(block.ffn_in(block.norm_ffn(h))));
    record(name + ".ffn", f);
    x = block.ffn_residual_quant(h + f);
    record(name + ".residual", x);
  }
  return head(final_norm(x));
}

std::vector<double> CausalHopfieldLMImpl::bos_attention() const {
  std::vector<double> per_layer;
  for (const auto& block : blocks) {
    const at::Tensor& weights = block->attention->last_association();  // [B, H, T, S(+1)]
    if (!weights.defined() || weights.size(2) < 2) {
      per_layer.push_back(0.0);
      continue;
    }
    per_layer.push_back(weights.narrow(2, 1, weights.size(2) - 1).select(3, 0).mean().item<double>());
  }
  return per_layer;
}

}  // namespace vqa::study
