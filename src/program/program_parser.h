// The program model: a Hopfield encoder-decoder that reads a question and writes a CLEVR program as postfix
// program tokens. Teacher-forced forward gives logits per step (a soft program after a softmax); greedy
// decoding is type-checked so every decoded program parses and can run. A small supervised trainer (AdamW,
// cross-entropy on postfix tokens) fits it on question/program pairs.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hopfield/association.h"
#include "hopfield/hopfield.h"
#include "program/tokenizer.h"

namespace vqa::program {

struct ProgramParserOptions {
  int64_t question_vocab_size = 0;  // QuestionTokenizer::size()
  int64_t model_size = 64;
  int64_t num_heads = 4;
  int64_t ffn_size = 0;  // 0: 4 x model_size
  int64_t encoder_layers = 2;
  int64_t decoder_layers = 2;
  int64_t max_question_tokens = 64;  // with <start> and <end>
  int64_t max_program_tokens = 48;   // decoder steps, the final <end> included
  double dropout = 0.0;
  // Output ids after the program tokens that point at the question's phrases (program/concepts.h): pointer k
  // expands, when decoding, to the filter chain of phrase k. 0: none.
  int64_t pointer_tokens = 0;
  hopfield::AssociationOptions association;  // Softmax_1 by default

  // For the model file. fromJson throws std::runtime_error naming the bad or missing field.
  nlohmann::json toJson() const;
  static ProgramParserOptions fromJson(const nlohmann::json& j);
};

// A question's ids for the encoder that never throws: <start> words <end>, unknown words as <unk>, an empty
// question as <start> <end>, a question too long cut to `max_tokens` (the <end> kept).
std::vector<int64_t> encodeQuestionForParser(const QuestionTokenizer& tokenizer, const std::string& question,
                                             int64_t max_tokens);

// The encoder's pre-LN Hopfield transformer blocks, and the LayerNorm every part uses (shared with the GQA
// program model).
hopfield::TransformerBlockOptions encoderBlockOptions(const ProgramParserOptions& options);
torch::nn::LayerNorm layerNorm(int64_t size);

// The encoder pass both program models share: question ids [B, S] (0 = padding) through the word and position
// embeddings, the encoder blocks and the final norm; returns the states [B, S, D] and the padding mask [B, S].
std::pair<at::Tensor, at::Tensor> encodeQuestionIds(const at::Tensor& question, int64_t max_tokens,
                                                     torch::nn::Embedding& words, torch::nn::Embedding& positions,
                                                     torch::nn::ModuleList& blocks, torch::nn::LayerNorm& norm);

// One decoder layer (pre-LN): causal Hopfield self-attention over the program so far, Hopfield
// cross-attention to the encoded question, and a feed-forward network.
class ProgramDecoderLayerImpl : public torch::nn::Cloneable<ProgramDecoderLayerImpl> {
 public:
  explicit ProgramDecoderLayerImpl(const ProgramParserOptions& options);
  void reset() override;
  // x [B, T, D], memory [B, S, D], causal_mask [T, T] (true = ignore), memory_padding [B, S] (true = ignore).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& memory, const at::Tensor& causal_mask,
                     const at::Tensor& memory_padding);
  // The output at the last position only, from the layer's inputs at every position so far [B, t, D]
  // (incremental decoding); equals forward(...)[:, t - 1] up to rounding.
  at::Tensor forwardLast(const at::Tensor& prefix, const at::Tensor& memory, const at::Tensor& memory_padding);
  // Records "<name>.self_attn", "<name>.cross_attn", "<name>.ffn" (the three outputs added to the residual
  // stream) and "<name>.residual" (the layer's output, the pre-LayerNorm residual sum) into `stats`.
  void track_outliers(hopfield::OutlierStats* stats, std::string name);

  hopfield::Hopfield self_attention{nullptr}, cross_attention{nullptr};
  torch::nn::LayerNorm norm_self{nullptr}, norm_cross{nullptr}, norm_ffn{nullptr};
  hopfield::QuantLinear ffn_in{nullptr}, ffn_out{nullptr};

 private:
  // h + FFN(h) after the two attentions' outputs `self` and `cross`, recorded when tracked.
  at::Tensor finish(const at::Tensor& residual, const at::Tensor& self, const at::Tensor& cross);

  ProgramParserOptions options_;
  hopfield::OutlierStats* stats_ = nullptr;
  std::string name_;
};
TORCH_MODULE(ProgramDecoderLayer);

// One incremental decoding step through decoder layers (ProgramDecoderLayer): `x` [B, 1, D] is the input at
// the next position; each layer's inputs so far (`layer_inputs`, extended here) give its output there.
at::Tensor decodeLastPosition(torch::nn::ModuleList& layers, at::Tensor x, const at::Tensor& memory,
                              const at::Tensor& memory_padding, std::vector<at::Tensor>& layer_inputs);

// One decoded program.
struct DecodedProgram {
  std::vector<int> tokens;  // postfix module tokens, without <start> / <end>; fromPostfix() accepts them
  std::vector<int> steps;   // the ids as decoded (pointer ids kept, chains not expanded), without <end>
  // [steps, numProgramTokens() + pointer_tokens]: the model's distribution at each decoding step restricted to
  // the ids allowed there (renormalised); the last row is the step that chose <end>. Without pointers, row t
  // is the step that chose tokens[t]. Left undefined unless asked for.
  at::Tensor distributions;
  double log_probability = 0;  // of the chosen tokens, <end> included, under those restricted distributions
};

struct DecodeOptions {
  // 0: greedy, one program per question. K > 0: K programs per question sampled (at `temperature`) from the
  // restricted distributions, with a generator seeded by `seed` (the same seed gives the same programs).
  int64_t samples = 0;
  double temperature = 1.0;
  uint64_t seed = 0;
  // Per question, which program tokens may appear at all (e.g. conceptTokenMask); empty: every token.
  const std::vector<std::vector<uint8_t>>* token_masks = nullptr;
  // Per question, the filter chain of each phrase its pointer ids stand for (with pointer_tokens > 0);
  // empty: no pointer is ever chosen. Decoded tokens hold the chains, never the pointer ids.
  const std::vector<std::vector<std::vector<int>>>* phrase_chains = nullptr;
  bool keep_distributions = false;
};

class ProgramParserImpl : public torch::nn::Cloneable<ProgramParserImpl> {
 public:
  explicit ProgramParserImpl(ProgramParserOptions options);
  void reset() override;

  // question [B, S] ids (0 = padding), program_inputs [B, T] program-token ids starting with <start>
  // (teacher forcing; 0 = padding). Returns logits [B, T, numProgramTokens()]; step t sees inputs <= t only.
  at::Tensor forward(const at::Tensor& question, const at::Tensor& program_inputs);

  // Encoder states [B, S, D] and the padding mask [B, S] (true = padding).
  std::pair<at::Tensor, at::Tensor> encode(const at::Tensor& question);
  at::Tensor decode(const at::Tensor& memory, const at::Tensor& memory_padding, const at::Tensor& program_inputs);
  // One incremental decoding step: `tokens` [B] are the inputs at position `step`; `layer_inputs` (one tensor
  // per decoder layer, [B, step, D], undefined at step 0) holds every layer's inputs so far and is extended.
  // Returns the logits at `step` [B, numProgramTokens()], as decode() gives them for the whole sequence.
  at::Tensor decodeStep(const at::Tensor& memory, const at::Tensor& memory_padding, const at::Tensor& tokens,
                        int64_t step, std::vector<at::Tensor>& layer_inputs);

  // Type-checked greedy decoding: only tokens that fit the postfix stack (tokenFits) and still leave room to
  // finish within max_program_tokens are allowed, so the result always converts to a valid Program.
  DecodedProgram decodeGreedy(const std::vector<int64_t>& question_ids);
  std::vector<DecodedProgram> decodeGreedyBatch(const std::vector<std::vector<int64_t>>& questions);
  // Greedy or sampled decoding under the same type check (and the token masks, when given). Returns
  // questions.size() x max(1, samples) programs, question-major.
  std::vector<DecodedProgram> decodeBatch(const std::vector<std::vector<int64_t>>& questions,
                                          const DecodeOptions& options);

  const ProgramParserOptions& options() const { return options_; }
  // Tracks every encoder block and decoder layer as PREFIX.encoder.i / PREFIX.decoder.i (null: stop).
  void track_outliers(hopfield::OutlierStats* stats, const std::string& prefix);

  torch::nn::Embedding word_embedding{nullptr}, question_position{nullptr};
  torch::nn::Embedding token_embedding{nullptr}, program_position{nullptr};
  torch::nn::ModuleList encoder{nullptr}, decoder{nullptr};
  torch::nn::LayerNorm encoder_norm{nullptr}, decoder_norm{nullptr};
  hopfield::QuantLinear output{nullptr};

 private:
  ProgramParserOptions options_;
};
TORCH_MODULE(ProgramParser);

// ---- Supervised training on question/program pairs ------------------------------------------------------
struct ProgramExample {
  std::vector<int64_t> question;  // encoder ids (encodeQuestionForParser)
  std::vector<int> program;       // postfix module tokens, without <start> / <end>
};

struct ProgramTrainingOptions {
  int64_t steps = 500;
  int64_t batch_size = 32;
  double learning_rate = 2e-3;
  double weight_decay = 0.01;
  int64_t warmup_steps = 50;  // linear warm-up, then cosine decay to 10%
  double max_grad_norm = 1.0;
  uint64_t seed = 0;  // batch order
};

struct ProgramTrainingReport {
  int64_t steps = 0;
  double final_loss = 0.0;  // mean over the last 20 steps
  double seconds = 0.0;
};

// Cross-entropy on the postfix tokens and the final <end>. `on_step(step, loss)` is called after each step
// when given. Throws std::invalid_argument for an empty set or an example longer than the model allows.
ProgramTrainingReport trainProgramParser(ProgramParser& model, const std::vector<ProgramExample>& examples,
                                         const ProgramTrainingOptions& options,
                                         const std::function<void(int64_t, double)>& on_step = {});

// Teacher-forced token accuracy (argmax over every target token, <end> included), in eval mode.
double programTokenAccuracy(ProgramParser& model, const std::vector<ProgramExample>& examples);
// Share of examples whose type-checked greedy decoding equals the target tokens exactly.
double programExactMatch(ProgramParser& model, const std::vector<ProgramExample>& examples);

}  // namespace vqa::program
