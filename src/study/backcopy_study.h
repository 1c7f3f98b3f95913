// The Bigram-Backcopy outlier study (`vqa study-outliers --task backcopy`): a small causal pre-LN Hopfield
// transformer trained per attention variant and per seed on the Bigram-Backcopy task, where attention
// sinks and activation outliers are known to grow under Adam. Reports the FP32 and W8A8 next-token loss,
// the outlier statistics with and without position 0, and the attention mass on <bos>.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hopfield/association.h"
#include "hopfield/outliers.h"
#include "study/backcopy_task.h"
#include "study/outlier_study.h"  // StudyProgress

namespace vqa::study {

struct BackcopyStudyOptions {
  std::vector<hopfield::AttentionKind> variants = {hopfield::AttentionKind::Softmax, hopfield::AttentionKind::Softmax1,
                                                   hopfield::AttentionKind::Clipped, hopfield::AttentionKind::Gated};
  uint64_t seed = 1;   // first seed; seeds are seed, seed + 1, ...
  int64_t seeds = 3;
  int64_t steps = 3000;
  int64_t batch_size = 32;
  double learning_rate = 1e-3;  // constant
  double weight_decay = 1e-4;   // parameters with 2+ dimensions only (weight matrices, embeddings)
  double beta1 = 0.9, beta2 = 0.99;
  int64_t model_size = 64;
  int64_t num_heads = 2;
  int64_t ffn_size = 256;
  int64_t layers = 3;
  bool bias = false;  // biases in the attention projections and the MLP (the protocol has none)
  BackcopyTaskOptions task;
  int64_t eval_sequences = 512;       // held out, shared by every variant and seed
  int64_t calibration_batches = 4;    // fresh training batches (batch_size each), running min-max
  double percentile = 0.0;            // 0: plain min-max ranges
  double clip_gamma = -0.025;
  double clip_zeta = 1.0;
  double gate_init_pi = 0.5;
};

// One trained model (one variant, one seed).
struct BackcopyRun {
  uint64_t seed = 0;
  double fp_metric = 0, w8a8_metric = 0;  // mean next-token cross-entropy (nats) on the held-out sequences
  // The FP32 loss split: at the copy positions (the token after a trigger) and at the bigram positions.
  double copy_loss = 0, bigram_loss = 0;
  // The outlier statistics over the attention outputs alone ("block<i>.attn").
  double avg_kurtosis_attention = 0, max_inf_norm_attention = 0;
  double avg_kurtosis = 0, max_inf_norm = 0;
  double avg_kurtosis_no_bos = 0, max_inf_norm_no_bos = 0;
  double bos_attention = 0;  // mean over layers of bos_attention_per_layer
  std::vector<double> bos_attention_per_layer;
  double final_train_loss = 0, train_seconds = 0;
  std::vector<hopfield::TrackedTensorSummary> tensors, tensors_no_bos;
};

struct BackcopyVariantResult {
  std::string variant;
  // Means over seeds of the per-seed values.
  double fp_metric = 0, w8a8_metric = 0;
  double copy_loss = 0, bigram_loss = 0;
  double avg_kurtosis = 0, max_inf_norm = 0;
  double avg_kurtosis_attention = 0, max_inf_norm_attention = 0;
  double bos_attention = 0;
  double avg_kurtosis_no_bos = 0, max_inf_norm_no_bos = 0;
  std::vector<BackcopyRun> per_seed;
};

struct BackcopyStudyResult {
  std::string task;
  std::string metric;
  BackcopyStudyOptions options;
  int threads = 1;
  std::vector<BackcopyVariantResult> variants;
};

// Trains options.seeds models per variant. Progress reports name the variant and seed ("softmax seed 2").
BackcopyStudyResult run_backcopy_study(const BackcopyStudyOptions& options,
                                       const std::function<void(const StudyProgress&)>& progress = {});

// Markdown table (one row per variant, mean ± sample std over seeds) followed by the settings.
std::string backcopy_markdown(const BackcopyStudyResult& result);
std::string backcopy_json(const BackcopyStudyResult& result);
// Writes `path` atomically (datasets/json_file.h).
void write_backcopy_json(const BackcopyStudyResult& result, const std::string& path);

}  // namespace vqa::study
