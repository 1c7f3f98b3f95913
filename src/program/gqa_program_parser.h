// The GQA program model: the ProgramParser's Hopfield encoder-decoder reading a GQA question and writing its
// `semantic` program as tokens (gqa_program_codec.h). Its output is a vocabulary of program tokens built from
// training programs (operations, attribute types, dependency offsets, the words of names, values and
// relations) and, beside it, a copy of any question word, so an object name or value never seen in training
// can still be written when the question says it. Greedy decoding follows the grammar, so every decoded
// program parses.
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

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "program/gqa_program_codec.h"
#include "program/program_parser.h"
#include "program/tokenizer.h"

namespace vqa::program {

// The program tokens the model writes from its own vocabulary (copies of question words come beside them).
class GqaProgramVocabulary {
 public:
  static constexpr int64_t kPad = 0, kStart = 1, kUnknownWord = 2;  // <unk>: a word outside the vocabulary

  // The structural tokens always; attribute types and words seen in `programs` (`min_word_count` times for
  // words), in first-seen order.
  static GqaProgramVocabulary build(const std::vector<std::vector<std::string>>& programs, int min_word_count = 1);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::string& token(int64_t id) const { return tokens_.at(static_cast<size_t>(id)); }
  int64_t find(const std::string& token) const;  // -1 when absent
  // The id a token is fed back to the decoder as: its own, or <unk> for a word outside the vocabulary.
  int64_t inputId(const std::string& token) const;
  // Per id: its grammar class, and its operation index / dependency offset where it has one.
  GqaTokenClass tokenClass(int64_t id) const { return classes_.at(static_cast<size_t>(id)); }
  int operationOf(int64_t id) const { return operations_.at(static_cast<size_t>(id)); }
  int offsetOf(int64_t id) const { return offsets_.at(static_cast<size_t>(id)); }

  nlohmann::json toJson() const;  // {"tokens": [...]}
  // Throws std::runtime_error("GQA program vocabulary: problem") for a malformed list.
  static GqaProgramVocabulary fromJson(const nlohmann::json& json);

 private:
  void add(const std::string& token);
  std::vector<std::string> tokens_;
  std::map<std::string, int64_t> index_;
  std::vector<GqaTokenClass> classes_;
  std::vector<int> operations_, offsets_;
};

// One question ready for the model.
struct GqaProgramExample {
  std::vector<int64_t> question;          // encoder ids (encodeQuestionForParser)
  std::vector<std::string> words;         // the question's words; words[k] is at encoder position k + 1
  std::vector<std::string> tokens;        // the target program (gqa_program_tokens), <end> included; may be empty
};
GqaProgramExample makeGqaProgramExample(const QuestionTokenizer& tokenizer, const std::string& question,
                                        int64_t max_question_tokens);

// Teacher-forced tensors of a batch: inputs [B, T] (<start> then the target tokens), copy_from [B, T] (the
// question position an input word is read from, -1 for none), correct [B, T, V + S] (1 where an output writes
// the target token: its vocabulary id and every question position holding that word), counted [B, T].
struct GqaProgramBatch {
  at::Tensor question, inputs, copy_from, correct, counted;
};

class GqaProgramParserImpl : public torch::nn::Cloneable<GqaProgramParserImpl> {
 public:
  // options.pointer_tokens must be 0; the outputs are `program_vocab_size` tokens plus the question positions.
  GqaProgramParserImpl(ProgramParserOptions options, int64_t program_vocab_size);
  void reset() override;

  // Logits [B, T, V + S]: the vocabulary's tokens, then a copy of question position s (-inf where position s is
  // not a word of the question).
  at::Tensor forward(const at::Tensor& question, const at::Tensor& inputs, const at::Tensor& copy_from);

  // The parts of forward(), for incremental decoding. encode: memory [B, S, D] and padding [B, S].
  std::pair<at::Tensor, at::Tensor> encode(const at::Tensor& question);
  // One decoding step: `tokens` and `copy_from` [B] are the inputs at position `step`; `layer_inputs` (one per
  // decoder layer, [B, step, D], empty at step 0) is extended. Returns the logits at `step` [B, V + S], as
  // forward() gives them for the whole sequence.
  at::Tensor decodeStep(const at::Tensor& memory, const at::Tensor& padding, const at::Tensor& tokens,
                        const at::Tensor& copy_from, int64_t step, std::vector<at::Tensor>& layer_inputs);

  const ProgramParserOptions& options() const { return options_; }
  int64_t programVocabSize() const { return program_vocab_size_; }

  torch::nn::Embedding word_embedding{nullptr}, question_position{nullptr};
  torch::nn::Embedding token_embedding{nullptr}, program_position{nullptr};
  torch::nn::ModuleList encoder{nullptr}, decoder{nullptr};
  torch::nn::LayerNorm encoder_norm{nullptr}, decoder_norm{nullptr};
  torch::nn::Linear output{nullptr}, copy_query{nullptr}, copy_input{nullptr};

 private:
  at::Tensor embedInputs(const at::Tensor& memory, const at::Tensor& inputs, const at::Tensor& copy_from,
                         int64_t first_position);
  at::Tensor outputs(const at::Tensor& x, const at::Tensor& memory, const at::Tensor& padding);
  ProgramParserOptions options_;
  int64_t program_vocab_size_;
};
TORCH_MODULE(GqaProgramParser);

// Throws std::invalid_argument for an example whose question or program does not fit the model.
GqaProgramBatch makeGqaProgramBatch(const GqaProgramParser& model, const GqaProgramVocabulary& vocabulary,
                                    const std::vector<GqaProgramExample>& examples, const std::vector<size_t>& indices);
// Mean over counted target tokens of -log P(the target token), a token's probability being the sum over the
// outputs that write it. Target tokens no output can write (a word neither in the vocabulary nor the question)
// are not counted.
at::Tensor gqaProgramLoss(const at::Tensor& logits, const GqaProgramBatch& batch);
// The same loss's numerator (summed over the counted tokens) and the number of counted tokens, so processes that
// each hold part of a batch can form the whole batch's loss.
std::pair<at::Tensor, at::Tensor> gqaProgramLossSum(const at::Tensor& logits, const GqaProgramBatch& batch);

struct GqaDecodedProgram {
  std::vector<std::string> tokens;  // <end> included
  double log_probability = 0;       // under the grammar-restricted distributions
};
// Greedy decoding under the grammar (a program always parses with gqaProgramFromTokens), batched.
std::vector<GqaDecodedProgram> decodeGqaPrograms(GqaProgramParser& model, const GqaProgramVocabulary& vocabulary,
                                                 const std::vector<GqaProgramExample>& examples);

}  // namespace vqa::program
