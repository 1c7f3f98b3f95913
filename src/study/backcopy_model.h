// The causal language model of the Bigram-Backcopy study: token embedding + learned positions, pre-LN
// Hopfield transformer blocks under a causal mask with a ReLU MLP, a final LayerNorm and a linear
// next-token head. The head stays floating point under W8A8, as in the Bondarenko et al. protocol.
#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "hopfield/hopfield.h"
#include "hopfield/outliers.h"

namespace vqa::study {

struct BackcopyModelOptions {
  int64_t token_count = 65;  // ordinary tokens + <bos>
  int64_t max_length = 63;   // longest input
  int64_t model_size = 64;
  int64_t num_heads = 2;
  int64_t ffn_size = 256;
  int64_t layers = 3;
  bool bias = false;  // biases in the attention projections and the MLP (the protocol has none)
  hopfield::AssociationOptions association;
};

class CausalHopfieldLMImpl : public torch::nn::Cloneable<CausalHopfieldLMImpl> {
 public:
  explicit CausalHopfieldLMImpl(BackcopyModelOptions options);
  void reset() override;
  // tokens [B, T] int64 -> next-token logits [B, T, token_count]; position t sees tokens 0..t only.
  at::Tensor forward(const at::Tensor& tokens);

  // Records, per block i, "block<i>.attn" (attention output), "block<i>.attn_residual" (x + attention:
  // the input of the FFN LayerNorm), "block<i>.ffn" (FFN output) and "block<i>.residual" (the block
  // output: the input of the next LayerNorm). `all_positions` gets whole sequences, `without_first`
  // the same tensors with position 0 (<bos>) cut off. Either may be nullptr; both nullptr stops tracking.
  void track_outliers(hopfield::OutlierStats* all_positions, hopfield::OutlierStats* without_first);

  // Per layer, the mean attention weight that queries at positions > 0 put on position 0, from the
  // last forward call, averaged over batch, heads and those queries.
  std::vector<double> bos_attention() const;

  torch::nn::Embedding embedding{nullptr};
  at::Tensor positions;
  hopfield::ActQuantizer embedding_quant{nullptr};
  // The project's blocks (pre-LN); their submodules are run here in causal order with a ReLU MLP.
  std::vector<hopfield::TransformerBlock> blocks;
  torch::nn::LayerNorm final_norm{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  void record(const std::string& name, const at::Tensor& activation);

  BackcopyModelOptions options_;
  hopfield::OutlierStats* all_positions_ = nullptr;
  hopfield::OutlierStats* without_first_ = nullptr;
};
TORCH_MODULE(CausalHopfieldLM);

}  // namespace vqa::study
