// The attention-variant study: training loop, exact-match evaluation, W8A8 calibration and quantized
// evaluation, and the markdown / JSON reports.
#include "study/outlier_study.h"

#include <ATen/Parallel.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/init.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>
#include <stdexcept>

#include "hopfield/int8.h"
#include "study/question_task.h"
#include "datasets/json_file.h"

#include <nlohmann/json.hpp>

namespace vqa::study {

using namespace vqa::hopfield;

HopfieldTaggerImpl::HopfieldTaggerImpl(TaggerOptions options) : options_(std::move(options)) { reset(); }

void HopfieldTaggerImpl::reset() {
  const TaggerOptions& o = options_;
  embedding = register_module("embedding", torch::nn::Embedding(o.vocabulary_size, o.model_size));
  torch::nn::init::normal_(embedding->weight, 0.0, 0.02);
  positions = register_parameter("positions", at::empty({o.max_length, o.model_size}));
  torch::nn::init::normal_(positions, 0.0, 0.02);
  embedding_norm = register_module("embedding_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.model_size})));
  embedding_quant = register_module("embedding_quant", ActQuantizer());
  blocks.clear();
  for (int64_t i = 0; i < o.layers; ++i) {
    TransformerBlockOptions b;
    b.model_size = o.model_size;
    b.num_heads = o.num_heads;
    b.ffn_size = o.ffn_size;
    b.pre_norm = o.pre_norm;
    b.association = o.association;
    blocks.push_back(register_module("block" + std::to_string(i), TransformerBlock(b)));
  }
  if (o.pre_norm)
    final_norm = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.model_size})));
  head = register_module("head", torch::nn::Linear(o.model_size, o.tag_count));
}

at::Tensor HopfieldTaggerImpl::forward(const at::Tensor& words, const at::Tensor& padding) {
  const int64_t length = words.size(1);
  at::Tensor x = embedding(words) + positions.narrow(0, 0, length).unsqueeze(0);
  x = embedding_quant(embedding_norm(x));
  for (auto& block : blocks) x = block(x, padding);
  if (options_.pre_norm) x = final_norm(x);
  return head(x);
}

void HopfieldTaggerImpl::track_outliers(OutlierStats* stats) {
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i]->track_outliers(stats, "block" + std::to_string(i));
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct TensorBatch {
  at::Tensor words, tags, padding;
};

// Tensors of a batch, cut to its longest question (most questions are far shorter than max_length).
TensorBatch to_tensors(const ClevrStyleTagging::Batch& b) {
  int64_t used = 1;
  for (int64_t i = 0; i < b.count; ++i)
    for (int64_t t = b.length - 1; t >= used; --t)
      if (!b.padding[i * b.length + t]) {
        used = t + 1;
        break;
      }
  TensorBatch t;
  t.words = at::tensor(b.word_ids, at::kLong).view({b.count, b.length}).narrow(1, 0, used).contiguous();
  t.tags = at::tensor(b.tag_ids, at::kLong).view({b.count, b.length}).narrow(1, 0, used).contiguous();
  t.padding = at::tensor(std::vector<int64_t>(b.padding.begin(), b.padding.end()), at::kLong)
                  .view({b.count, b.length})
                  .narrow(1, 0, used)
                  .to(at::kBool);
  return t;
}

// BERT-style masking of a batch's words for the masked-word objective; targets go into `tags`.
TensorBatch mask_words(TensorBatch b, int64_t mask_id, int64_t first_word_id, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int64_t> random_word(first_word_id, mask_id - 1);
  at::Tensor words = b.words.clone(), targets = at::full_like(b.words, ClevrStyleTagging::kIgnoreTag);
  auto w = words.accessor<int64_t, 2>();
  auto t = targets.accessor<int64_t, 2>();
  auto pad = b.padding.accessor<bool, 2>();
  for (int64_t i = 0; i < words.size(0); ++i) {
    for (int64_t j = 1; j < words.size(1); ++j) {  // position 0 is <bos>
      if (pad[i][j] || unit(rng) >= 0.15) continue;
      t[i][j] = w[i][j];
      const double r = unit(rng);
      if (r < 0.8) w[i][j] = mask_id;
      else if (r < 0.9) w[i][j] = random_word(rng);
    }
  }
  b.words = words;
  b.tags = targets;
  return b;
}

struct Accuracy {
  double exact_match = 0, token = 0;  // percent
};

Accuracy evaluate(HopfieldTagger& model, const std::vector<TensorBatch>& batches) {
  at::NoGradGuard no_grad;
  model->eval();
  int64_t questions = 0, exact = 0, tokens = 0, correct_tokens = 0;
  for (const auto& b : batches) {
    at::Tensor predicted = model(b.words, b.padding).argmax(-1);
    at::Tensor scored = b.tags != ClevrStyleTagging::kIgnoreTag;
    at::Tensor right = (predicted == b.tags).logical_and(scored);
    correct_tokens += right.sum().item<int64_t>();
    tokens += scored.sum().item<int64_t>();
    exact += (right.sum(1) == scored.sum(1)).sum().item<int64_t>();
    questions += b.words.size(0);
  }
  return {100.0 * static_cast<double>(exact) / std::max<int64_t>(questions, 1),
          100.0 * static_cast<double>(correct_tokens) / std::max<int64_t>(tokens, 1)};
}

}  // namespace

OutlierStudyResult run_outlier_study(const OutlierStudyOptions& options,
                                     const std::function<void(const StudyProgress&)>& progress) {
  OutlierStudyResult result;
  result.options = options;
  result.threads = at::get_num_threads();
  const bool masked_words = options.objective == StudyObjective::MaskedWords;
  if (masked_words) {
    result.task =
        "masked-word prediction on CLEVR-style questions (the study's own generator; 15% of words chosen, "
        "80% replaced by <mask>, 10% by a random word, 10% kept)";
    result.metric = "accuracy (%) on the chosen words of held-out generated questions";
  } else {
    result.task =
        "CLEVR-style question -> program-token tagging (the study's own generator: CLEVR vocabulary and synonyms, "
        "relation hops, and/or, counts, comparisons; context-dependent tags such as the root function on '?')";
    result.metric = "exact-match accuracy (%) of the whole tag sequence on held-out generated questions";
  }

  ClevrStyleTagging task(options.max_length);
  const int64_t mask_id = task.word_id("<mask>"), first_word_id = task.word_id("<bos>") + 1;
  auto make_batch = [&](int64_t count, std::mt19937_64& rng) {
    TensorBatch b = to_tensors(task.batch(count, rng));
    return masked_words ? mask_words(std::move(b), mask_id, first_word_id, rng) : b;
  };
  // Fixed evaluation and calibration sets, shared by every variant.
  std::mt19937_64 eval_rng(options.seed ^ 0x5eedULL);
  std::vector<TensorBatch> eval_batches;
  for (int64_t left = options.eval_questions; left > 0; left -= 256)
    eval_batches.push_back(make_batch(std::min<int64_t>(left, 256), eval_rng));
  std::mt19937_64 calibration_rng(options.seed ^ 0xca1bULL);
  std::vector<TensorBatch> calibration_batches;
  for (int64_t i = 0; i < options.calibration_batches; ++i)
    calibration_batches.push_back(make_batch(options.calibration_batch_size, calibration_rng));

  for (AttentionKind kind : options.variants) {
    VariantResult vr;
    vr.variant = attention_kind_name(kind);
    torch::manual_seed(options.seed);
    std::mt19937_64 train_rng(options.seed);

    TaggerOptions to;
    to.vocabulary_size = task.vocabulary_size();
    to.tag_count = masked_words ? task.vocabulary_size() : task.tag_count();
    to.max_length = options.max_length;
    to.model_size = options.model_size;
    to.num_heads = options.num_heads;
    to.ffn_size = options.ffn_size;
    to.layers = options.layers;
    to.pre_norm = options.pre_norm;
    to.association.kind = kind;
    to.association.clip_gamma = options.clip_gamma;
    to.association.clip_zeta = options.clip_zeta;
    to.association.gate_init_pi = options.gate_init_pi;
    HopfieldTagger model(to);

    torch::optim::AdamW optimizer(model->parameters(),
                                  torch::optim::AdamWOptions(options.learning_rate).weight_decay(options.weight_decay));
    const int64_t warmup = std::max<int64_t>(1, options.steps / 20);
    const auto start = Clock::now();
    double running_loss = 0;
    model->train();
    for (int64_t step = 0; step < options.steps; ++step) {
      // Linear warm-up, then cosine decay to 10% of the peak learning rate.
      double lr = options.learning_rate;
      if (step < warmup) {
        lr *= static_cast<double>(step + 1) / static_cast<double>(warmup);
      } else {
        const double t = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, options.steps - warmup));
        lr *= 0.1 + 0.9 * 0.5 * (1.0 + std::cos(M_PI * t));
      }
      for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);

      TensorBatch b = make_batch(options.batch_size, train_rng);
      at::Tensor logits = model(b.words, b.padding);
      at::Tensor loss = torch::nn::functional::cross_entropy(
          logits.reshape({-1, logits.size(-1)}), b.tags.reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().ignore_index(ClevrStyleTagging::kIgnoreTag));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      const double l = loss.item<double>();
      running_loss = step == 0 ? l : 0.95 * running_loss + 0.05 * l;
      if (progress && ((step + 1) % 100 == 0 || step + 1 == options.steps))
        progress({vr.variant, "train", step + 1, options.steps, running_loss, seconds_since(start)});
    }
    vr.train_seconds = seconds_since(start);
    vr.final_train_loss = running_loss;

    // FP32: accuracy and outlier statistics on the evaluation set.
    OutlierStats stats;
    model->track_outliers(&stats);
    Accuracy fp = evaluate(model, eval_batches);
    model->track_outliers(nullptr);
    vr.fp_metric = masked_words ? fp.token : fp.exact_match;
    vr.fp_token_accuracy = fp.token;
    vr.avg_kurtosis = stats.average_kurtosis();
    vr.max_inf_norm = stats.max_inf_norm();
    vr.tensors = stats.summary();

    // W8A8: calibrate running min-max ranges, then fake-quantize weights (symmetric) and activations
    // (asymmetric), attention scores and probabilities included.
    if (progress) progress({vr.variant, "calibrate", 0, options.calibration_batches, 0, seconds_since(start)});
    QuantSettings qs;
    qs.percentile = options.percentile;
    qs.mode = QuantMode::Calibrate;
    set_quant_mode(*model, qs);
    {
      at::NoGradGuard no_grad;
      model->eval();
      for (const auto& b : calibration_batches) model(b.words, b.padding);
    }
    qs.mode = QuantMode::FakeQuant;
    set_quant_mode(*model, qs);
    Accuracy w8a8 = evaluate(model, eval_batches);
    vr.w8a8_metric = masked_words ? w8a8.token : w8a8.exact_match;
    vr.w8a8_token_accuracy = w8a8.token;
    if (options.real_int8) {
      qs.mode = QuantMode::Int8;
      set_quant_mode(*model, qs);
      const Accuracy int8 = evaluate(model, eval_batches);
      vr.int8_metric = masked_words ? int8.token : int8.exact_match;
      vr.int8_backend = model->blocks.front()->ffn_in->backend_name();
    }
    qs.mode = QuantMode::Off;
    set_quant_mode(*model, qs);
    if (progress) progress({vr.variant, "evaluate", 1, 1, running_loss, seconds_since(start)});
    result.variants.push_back(std::move(vr));
  }
  return result;
}

namespace {

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

}  // namespace

std::string study_markdown(const OutlierStudyResult& r) {
  std::ostringstream out;
  out << "| variant | FP exact-match % | W8A8 exact-match % | int8-kernel exact-match % | FP token acc % | "
         "W8A8 token acc % | avg kurtosis | max inf norm |\n";
  out << "|---|---|---|---|---|---|---|---|\n";
  for (const auto& v : r.variants) {
    out << "| " << v.variant << " | " << fixed(v.fp_metric, 2) << " | " << fixed(v.w8a8_metric, 2) << " | "
        << (v.int8_metric >= 0 ? fixed(v.int8_metric, 2) : "-") << " | " << fixed(v.fp_token_accuracy, 2) << " | "
        << fixed(v.w8a8_token_accuracy, 2) << " | " << fixed(v.avg_kurtosis, 2) << " | " << fixed(v.max_inf_norm, 2)
        << " |\n";
  }
  const OutlierStudyOptions& o = r.options;
  out << "\nTask: " << r.task << ".\nMetric: " << r.metric << ".\n";
  out << "Settings: " << o.layers << (o.pre_norm ? " pre-LN" : " post-LN") << " blocks, d=" << o.model_size << ", heads=" << o.num_heads
      << ", ffn=" << o.ffn_size << ", " << o.steps << " AdamW steps x batch " << o.batch_size << ", lr "
      << o.learning_rate << ", wd " << o.weight_decay << ", seed " << o.seed << ", eval " << o.eval_questions
      << " questions; W8A8 per-tensor (weights symmetric, activations asymmetric, running min-max momentum 0.9 over "
      << o.calibration_batches << "x" << o.calibration_batch_size << " questions"
      << (o.percentile > 0 ? ", percentile " + fixed(o.percentile, 3) : std::string()) << "); clipped gamma "
      << o.clip_gamma << " zeta " << o.clip_zeta << "; gate init pi " << o.gate_init_pi << "; torch threads "
      << r.threads << ".\n";
  out << "Outlier statistics over " << (r.variants.empty() ? 0 : r.variants.front().tensors.size())
      << " tracked tensors (per block: attention output, FFN output, FFN residual sum): avg kurtosis = mean over "
         "tensors of the per-sample Pearson kurtosis averaged over samples; max inf norm = max over tensors of the "
         "per-sample L-inf norm averaged over samples.\n";
  return out.str();
}

std::string study_json(const OutlierStudyResult& r) {
  using nlohmann::json;
  auto number = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  const OutlierStudyOptions& o = r.options;
  json settings = {{"seed", o.seed},
                   {"steps", o.steps},
                   {"batch_size", o.batch_size},
                   {"learning_rate", number(o.learning_rate)},
                   {"weight_decay", number(o.weight_decay)},
                   {"layers", o.layers},
                   {"pre_norm", o.pre_norm},
                   {"model_size", o.model_size},
                   {"num_heads", o.num_heads},
                   {"ffn_size", o.ffn_size},
                   {"eval_questions", o.eval_questions},
                   {"calibration_batches", o.calibration_batches},
                   {"calibration_batch_size", o.calibration_batch_size},
                   {"percentile", number(o.percentile)},
                   {"clip_gamma", number(o.clip_gamma)},
                   {"clip_zeta", number(o.clip_zeta)},
                   {"gate_init_pi", number(o.gate_init_pi)},
                   {"threads", r.threads}};
  json variants = json::object();
  for (const VariantResult& v : r.variants) {
    json tensors = json::object();
    for (const auto& t : v.tensors)
      tensors[t.name] = {{"avg_kurtosis", number(t.avg_kurtosis)}, {"avg_inf_norm", number(t.avg_inf_norm)}};
    variants[v.variant] = {{"fp_metric", number(v.fp_metric)},
                           {"w8a8_metric", number(v.w8a8_metric)},
                           {"avg_kurtosis", number(v.avg_kurtosis)},
                           {"max_inf_norm", number(v.max_inf_norm)},
                           {"int8_metric", v.int8_metric >= 0 ? number(v.int8_metric) : json(nullptr)},
                           {"int8_backend", v.int8_backend},
                           {"fp_token_accuracy", number(v.fp_token_accuracy)},
                           {"w8a8_token_accuracy", number(v.w8a8_token_accuracy)},
                           {"final_train_loss", number(v.final_train_loss)},
                           {"train_seconds", number(v.train_seconds)},
                           {"tensors", tensors}};
  }
  const json out = {{"task", r.task}, {"metric", r.metric}, {"settings", settings}, {"variants", variants}};
  return out.dump(2) + "\n";
}

void write_study_json(const OutlierStudyResult& result, const std::string& path) {
  writeFileAtomic(path, study_json(result));
}

}  // namespace vqa::study
