// The attention-variant study: the same small Hopfield transformer, trained once per association
// (same seed, data and budget) on the CLEVR-style program-token tagging task, then measured in FP32 and
// after W8A8 post-training quantization, with its outlier statistics.
#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <string>
#include <vector>

#include "hopfield/hopfield.h"
#include "hopfield/outliers.h"

namespace vqa::study {

using hopfield::ActQuantizer;
using hopfield::AssociationOptions;
using hopfield::AttentionKind;
using hopfield::OutlierStats;
using hopfield::TrackedTensorSummary;
using hopfield::TransformerBlock;

struct TaggerOptions {
  int64_t vocabulary_size = 0;
  int64_t tag_count = 0;
  int64_t max_length = 40;
  int64_t model_size = 64;
  int64_t num_heads = 4;
  int64_t ffn_size = 256;
  int64_t layers = 2;
  bool pre_norm = false;  // pre-LN blocks and a final LayerNorm before the head
  AssociationOptions association;
};

// Token embedding + learned positions -> LayerNorm -> transformer blocks -> linear tag head. The head
// stays floating point under W8A8, as in the Bondarenko et al. protocol.
class HopfieldTaggerImpl : public torch::nn::Cloneable<HopfieldTaggerImpl> {
 public:
  explicit HopfieldTaggerImpl(TaggerOptions options);
  void reset() override;
  // words [B, L] int64, padding [B, L] bool (true = padding) -> logits [B, L, tags].
  at::Tensor forward(const at::Tensor& words, const at::Tensor& padding);
  // Records "block<i>.attn|ffn|residual" into `stats` on every forward; nullptr stops tracking.
  void track_outliers(OutlierStats* stats);

  torch::nn::Embedding embedding{nullptr};
  at::Tensor positions;
  torch::nn::LayerNorm embedding_norm{nullptr};
  ActQuantizer embedding_quant{nullptr};
  std::vector<TransformerBlock> blocks;
  torch::nn::LayerNorm final_norm{nullptr};  // pre-LN only
  torch::nn::Linear head{nullptr};

 private:
  TaggerOptions options_;
};
TORCH_MODULE(HopfieldTagger);

// What the tagger learns: "tagging" (program token of every word) or "mlm" (masked-word prediction on the
// same questions: 15% of words chosen, 80% of those replaced by <mask>, 10% by a random word, 10% kept).
enum class StudyObjective { Tagging, MaskedWords };

struct OutlierStudyOptions {
  StudyObjective objective = StudyObjective::Tagging;
  std::vector<AttentionKind> variants = {AttentionKind::Softmax, AttentionKind::Softmax1, AttentionKind::Clipped,
                                         AttentionKind::Gated};
  uint64_t seed = 7;
  int64_t steps = 600;
  int64_t batch_size = 64;
  double learning_rate = 2e-3;
  double weight_decay = 0.01;
  int64_t model_size = 64;
  int64_t num_heads = 4;
  int64_t ffn_size = 256;
  int64_t layers = 2;
  bool pre_norm = false;
  int64_t max_length = 40;
  int64_t eval_questions = 2048;
  int64_t calibration_batches = 16;  // running min-max, momentum 0.9
  int64_t calibration_batch_size = 32;
  double percentile = 0.0;           // 0: plain min-max ranges
  double clip_gamma = -0.025;
  double clip_zeta = 1.0;
  double gate_init_pi = 0.5;
  bool real_int8 = true;  // also evaluate with the int8 kernels (linear layers and attention matmuls)
};

struct StudyProgress {
  std::string variant;
  std::string phase;  // "train", "evaluate", "calibrate"
  int64_t done = 0, total = 0;
  double loss = 0.0;
  double elapsed_seconds = 0.0;
};

struct VariantResult {
  std::string variant;
  double fp_metric = 0, w8a8_metric = 0, int8_metric = -1;  // exact-match accuracy, percent
  double fp_token_accuracy = 0, w8a8_token_accuracy = 0;     // percent
  double avg_kurtosis = 0, max_inf_norm = 0;
  double final_train_loss = 0, train_seconds = 0;
  std::string int8_backend;
  std::vector<TrackedTensorSummary> tensors;
};

struct OutlierStudyResult {
  std::string task;
  std::string metric;
  OutlierStudyOptions options;
  int threads = 1;
  std::vector<VariantResult> variants;
};

OutlierStudyResult run_outlier_study(const OutlierStudyOptions& options,
                                     const std::function<void(const StudyProgress&)>& progress = {});

// Markdown table (one row per variant) followed by the settings.
std::string study_markdown(const OutlierStudyResult& result);
std::string study_json(const OutlierStudyResult& result);
// Writes `path` atomically (datasets/json_file.h), so readers never see half a file.
void write_study_json(const OutlierStudyResult& result, const std::string& path);

}  // namespace vqa::study
