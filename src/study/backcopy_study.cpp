// The Bigram-Backcopy outlier study: training loop (AdamW, decay on weight matrices only), FP32 loss with
// outlier statistics and <bos> attention, W8A8 calibration and quantized loss, averaging over seeds, and
// the markdown / JSON reports.
#include "study/backcopy_study.h"

#include <ATen/Parallel.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "datasets/json_file.h"
#include "study/backcopy_model.h"

namespace vqa::study {

using namespace vqa::hopfield;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Sequences [B, T] as model inputs (positions 0..T-2) and next-token targets (positions 1..T-1).
struct LmBatch {
  at::Tensor inputs, targets;
};

LmBatch make_batch(const BigramBackcopy& task, int64_t count, std::mt19937_64& rng) {
  const at::Tensor tokens = at::tensor(task.batch(count, rng), at::kLong).view({count, task.sequence_length()});
  const int64_t T = task.sequence_length();
  return {tokens.narrow(1, 0, T - 1).contiguous(), tokens.narrow(1, 1, T - 1).contiguous()};
}

at::Tensor next_token_loss(const at::Tensor& logits, const at::Tensor& targets) {
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
}

// [B, T] bool: the targets that copy (the input at that position is a trigger token).
at::Tensor copy_positions(const BigramBackcopy& task, const at::Tensor& inputs) {
  at::Tensor triggers = at::tensor(task.trigger_tokens(), at::kLong);
  return at::isin(inputs, triggers);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Mean next-token cross-entropy over every target of `batches`.
double evaluate_loss(CausalHopfieldLM& model, const std::vector<LmBatch>& batches) {
  at::NoGradGuard no_grad;
  model->eval();
  double sum = 0;
  int64_t count = 0;
  for (const auto& b : batches) {
    sum += next_token_loss(model(b.inputs), b.targets).item<double>() * static_cast<double>(b.targets.numel());
    count += b.targets.numel();
  }
  return sum / static_cast<double>(std::max<int64_t>(count, 1));
}

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

BackcopyRun train_and_measure(const BackcopyStudyOptions& o, AttentionKind kind, uint64_t seed,
                              const BigramBackcopy& task, const std::vector<LmBatch>& eval_batches,
                              const std::function<void(const StudyProgress&)>& progress) {
  BackcopyRun run;
  run.seed = seed;
  const std::string label = attention_kind_name(kind) + " seed " + std::to_string(seed);
  torch::manual_seed(seed);
  std::mt19937_64 train_rng(seed);

  BackcopyModelOptions mo;
  mo.token_count = task.token_count();
  mo.max_length = task.sequence_length() - 1;
  mo.model_size = o.model_size;
  mo.num_heads = o.num_heads;
  mo.ffn_size = o.ffn_size;
  mo.layers = o.layers;
  mo.bias = o.bias;
  mo.association.kind = kind;
  mo.association.clip_gamma = o.clip_gamma;
  mo.association.clip_zeta = o.clip_zeta;
  mo.association.gate_init_pi = o.gate_init_pi;
  CausalHopfieldLM model(mo);

  // Weight decay on weight matrices (and embeddings) only; LayerNorm gains, biases and gate biases are exempt.
  std::vector<at::Tensor> decayed, exempt;
  for (const auto& p : model->parameters()) (p.dim() >= 2 ? decayed : exempt).push_back(p);
  auto adamw = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(o.learning_rate).betas({o.beta1, o.beta2}).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, adamw(o.weight_decay));
  groups.emplace_back(exempt, adamw(0.0));
  torch::optim::AdamW optimizer(groups, *adamw(0.0));

  const auto start = Clock::now();
  double running_loss = 0;
  model->train();
  const int64_t report_every = std::max<int64_t>(1, std::min<int64_t>(100, o.steps / 10));
  for (int64_t step = 0; step < o.steps; ++step) {
    const LmBatch b = make_batch(task, o.batch_size, train_rng);
    at::Tensor loss = next_token_loss(model(b.inputs), b.targets);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    const double l = loss.item<double>();
    running_loss = step == 0 ? l : 0.95 * running_loss + 0.05 * l;
    if (progress && ((step + 1) % report_every == 0 || step + 1 == o.steps))
      progress({label, "train", step + 1, o.steps, running_loss, seconds_since(start)});
  }
  run.train_seconds = seconds_since(start);
  run.final_train_loss = running_loss;

  // FP32: loss, outlier statistics (with and without position 0) and <bos> attention on the held-out set.
  OutlierStats all_positions, without_first;
  model->track_outliers(&all_positions, &without_first);
  {
    at::NoGradGuard no_grad;
    model->eval();
    double sum = 0, copy_sum = 0;
    int64_t count = 0, copies = 0;
    std::vector<double> bos(static_cast<size_t>(o.layers), 0.0);
    for (const auto& b : eval_batches) {
      const at::Tensor logits = model(b.inputs);
      const at::Tensor losses = torch::nn::functional::cross_entropy(
          logits.reshape({-1, logits.size(-1)}), b.targets.reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
      const at::Tensor copy = copy_positions(task, b.inputs).reshape({-1});
      sum += losses.sum().item<double>();
      count += losses.numel();
      copy_sum += losses.masked_select(copy).sum().item<double>();
      copies += copy.sum().item<int64_t>();
      const std::vector<double> layer_bos = model->bos_attention();
      for (size_t i = 0; i < bos.size(); ++i) bos[i] += layer_bos[i] * static_cast<double>(b.inputs.size(0));
    }
    int64_t sequences = 0;
    for (const auto& b : eval_batches) sequences += b.inputs.size(0);
    for (double& v : bos) v /= static_cast<double>(std::max<int64_t>(sequences, 1));
    run.fp_metric = sum / static_cast<double>(std::max<int64_t>(count, 1));
    run.copy_loss = copy_sum / static_cast<double>(std::max<int64_t>(copies, 1));
    run.bigram_loss = (sum - copy_sum) / static_cast<double>(std::max<int64_t>(count - copies, 1));
    run.bos_attention_per_layer = bos;
    run.bos_attention = mean_of(bos);
  }
  model->track_outliers(nullptr, nullptr);
  run.avg_kurtosis = all_positions.average_kurtosis();
  run.max_inf_norm = all_positions.max_inf_norm();
  run.avg_kurtosis_no_bos = without_first.average_kurtosis();
  run.max_inf_norm_no_bos = without_first.max_inf_norm();
  run.tensors = all_positions.summary();
  run.tensors_no_bos = without_first.summary();
  std::vector<double> attention_kurtosis;
  for (const TrackedTensorSummary& t : run.tensors) {
    if (!ends_with(t.name, ".attn")) continue;
    attention_kurtosis.push_back(t.avg_kurtosis);
    run.max_inf_norm_attention = std::max(run.max_inf_norm_attention, t.avg_inf_norm);
  }
  run.avg_kurtosis_attention = mean_of(attention_kurtosis);

  // W8A8: running min-max ranges over a few fresh training batches, then weights (symmetric) and
  // activations (asymmetric), attention scores and probabilities included, fake-quantized.
  if (progress) progress({label, "calibrate", 0, o.calibration_batches, 0, seconds_since(start)});
  std::mt19937_64 calibration_rng(seed ^ 0xca1bULL);
  QuantSettings qs;
  qs.percentile = o.percentile;
  qs.mode = QuantMode::Calibrate;
  set_quant_mode(*model, qs);
  {
    at::NoGradGuard no_grad;
    model->eval();
    for (int64_t i = 0; i < o.calibration_batches; ++i) model(make_batch(task, o.batch_size, calibration_rng).inputs);
  }
  qs.mode = QuantMode::FakeQuant;
  set_quant_mode(*model, qs);
  run.w8a8_metric = evaluate_loss(model, eval_batches);
  qs.mode = QuantMode::Off;
  set_quant_mode(*model, qs);
  if (progress) progress({label, "evaluate", 1, 1, running_loss, seconds_since(start)});
  return run;
}

}  // namespace

BackcopyStudyResult run_backcopy_study(const BackcopyStudyOptions& options,
                                       const std::function<void(const StudyProgress&)>& progress) {
  if (options.seeds < 1) throw std::invalid_argument("backcopy study: seeds must be at least 1");
  BackcopyStudyResult result;
  result.options = options;
  result.threads = at::get_num_threads();
  const BigramBackcopy task(options.task);
  {
    std::ostringstream t;
    t << "Bigram-Backcopy next-token prediction (Guo et al. 2024): " << options.task.vocabulary
      << " tokens + <bos>, sequences of " << task.sequence_length() << " starting with <bos>, a fixed Dirichlet("
      << options.task.dirichlet_alpha << ") bigram table (seed " << options.task.table_seed << "), "
      << options.task.triggers << " trigger tokens after which the next token copies the one before the trigger";
    result.task = t.str();
  }
  result.metric = "mean next-token cross-entropy (nats, lower is better) on every position of held-out sequences";

  // Held-out sequences, shared by every variant and seed.
  std::mt19937_64 eval_rng(options.task.table_seed ^ 0x5eedULL);
  std::vector<LmBatch> eval_batches;
  for (int64_t left = options.eval_sequences; left > 0; left -= 128)
    eval_batches.push_back(make_batch(task, std::min<int64_t>(left, 128), eval_rng));

  for (AttentionKind kind : options.variants) {
    BackcopyVariantResult vr;
    vr.variant = attention_kind_name(kind);
    for (int64_t s = 0; s < options.seeds; ++s)
      vr.per_seed.push_back(
          train_and_measure(options, kind, options.seed + static_cast<uint64_t>(s), task, eval_batches, progress));
    auto mean = [&](double BackcopyRun::*field) {
      std::vector<double> v;
      for (const auto& r : vr.per_seed) v.push_back(r.*field);
      return mean_of(v);
    };
    vr.fp_metric = mean(&BackcopyRun::fp_metric);
    vr.w8a8_metric = mean(&BackcopyRun::w8a8_metric);
    vr.copy_loss = mean(&BackcopyRun::copy_loss);
    vr.bigram_loss = mean(&BackcopyRun::bigram_loss);
    vr.avg_kurtosis = mean(&BackcopyRun::avg_kurtosis);
    vr.max_inf_norm = mean(&BackcopyRun::max_inf_norm);
    vr.avg_kurtosis_attention = mean(&BackcopyRun::avg_kurtosis_attention);
    vr.max_inf_norm_attention = mean(&BackcopyRun::max_inf_norm_attention);
    vr.bos_attention = mean(&BackcopyRun::bos_attention);
    vr.avg_kurtosis_no_bos = mean(&BackcopyRun::avg_kurtosis_no_bos);
    vr.max_inf_norm_no_bos = mean(&BackcopyRun::max_inf_norm_no_bos);
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

// "mean ± sample std" over seeds, or just the value for one seed.
std::string over_seeds(const BackcopyVariantResult& v, double BackcopyRun::*field, int digits) {
  const size_t n = v.per_seed.size();
  double mean = 0;
  for (const auto& r : v.per_seed) mean += r.*field;
  mean /= static_cast<double>(std::max<size_t>(n, 1));
  if (n < 2) return fixed(mean, digits);
  double ss = 0;
  for (const auto& r : v.per_seed) ss += (r.*field - mean) * (r.*field - mean);
  return fixed(mean, digits) + " ± " + fixed(std::sqrt(ss / static_cast<double>(n - 1)), digits);
}

}  // namespace

std::string backcopy_markdown(const BackcopyStudyResult& r) {
  std::ostringstream out;
  out << "| variant | FP loss | W8A8 loss | copy / bigram loss | avg kurtosis | max inf norm | attention outputs: "
         "avg kurtosis | max inf norm | BOS attention | avg kurtosis (no BOS) | max inf norm (no BOS) |\n";
  out << "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& v : r.variants) {
    out << "| " << v.variant << " | " << over_seeds(v, &BackcopyRun::fp_metric, 4) << " | "
        << over_seeds(v, &BackcopyRun::w8a8_metric, 4) << " | " << fixed(v.copy_loss, 3) << " / "
        << fixed(v.bigram_loss, 3) << " | " << over_seeds(v, &BackcopyRun::avg_kurtosis, 2) << " | "
        << over_seeds(v, &BackcopyRun::max_inf_norm, 2) << " | "
        << over_seeds(v, &BackcopyRun::avg_kurtosis_attention, 2) << " | "
        << over_seeds(v, &BackcopyRun::max_inf_norm_attention, 2) << " | "
        << over_seeds(v, &BackcopyRun::bos_attention, 3) << " | "
        << over_seeds(v, &BackcopyRun::avg_kurtosis_no_bos, 2) << " | "
        << over_seeds(v, &BackcopyRun::max_inf_norm_no_bos, 2) << " |\n";
  }
  const BackcopyStudyOptions& o = r.options;
  out << "\nTask: " << r.task << ".\nMetric: " << r.metric << ".\n";
  out << "Settings: " << o.layers << " pre-LN causal blocks, d=" << o.model_size << ", heads=" << o.num_heads
      << ", ReLU ffn=" << o.ffn_size << (o.bias ? ", with" : ", no") << " biases in the projections and MLP, "
      << o.steps << " AdamW steps x batch " << o.batch_size << ", lr "
      << o.learning_rate << " (constant), betas (" << o.beta1 << ", " << o.beta2 << "), wd " << o.weight_decay
      << " on weight matrices; seeds " << o.seed << ".." << o.seed + static_cast<uint64_t>(o.seeds) - 1
      << " (mean ± std over seeds); eval " << o.eval_sequences
      << " sequences; W8A8 per-tensor (weights symmetric, activations asymmetric, running min-max momentum 0.9 over "
      << o.calibration_batches << " training batches"
      << (o.percentile > 0 ? ", percentile " + fixed(o.percentile, 3) : std::string()) << "); clipped gamma "
      << o.clip_gamma << " zeta " << o.clip_zeta << "; gate init pi " << o.gate_init_pi << "; torch threads "
      << r.threads << ".\n";
  out << "Outlier statistics over "
      << (r.variants.empty() || r.variants.front().per_seed.empty() ? 0 : r.variants.front().per_seed.front().tensors.size())
      << " tracked tensors (per block: attention output, attention residual sum, FFN output, block output = the "
         "pre-LayerNorm residual sums): avg kurtosis = mean over tensors of the per-sample Pearson kurtosis averaged "
         "over samples; max inf norm = max over tensors of the per-sample L-inf norm averaged over samples; 'no BOS' "
         "recomputes both without position 0; 'attention outputs' takes the attention outputs alone. Copy / bigram "
         "loss: the FP32 loss at the tokens after a trigger / at the others. BOS attention = mean weight that queries at positions > 0 put on "
         "position 0, averaged over layers.\n";
  return out.str();
}

std::string backcopy_json(const BackcopyStudyResult& r) {
  using nlohmann::json;
  auto number = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  auto tensors_json = [&](const std::vector<TrackedTensorSummary>& tensors) {
    json out = json::object();
    for (const auto& t : tensors)
      out[t.name] = {{"avg_kurtosis", number(t.avg_kurtosis)}, {"avg_inf_norm", number(t.avg_inf_norm)}};
    return out;
  };
  const BackcopyStudyOptions& o = r.options;
  json settings = {{"seed", o.seed},
                   {"seeds", o.seeds},
                   {"steps", o.steps},
                   {"batch_size", o.batch_size},
                   {"learning_rate", number(o.learning_rate)},
                   {"weight_decay", number(o.weight_decay)},
                   {"betas", {number(o.beta1), number(o.beta2)}},
                   {"layers", o.layers},
                   {"pre_norm", true},
                   {"causal", true},
                   {"model_size", o.model_size},
                   {"num_heads", o.num_heads},
                   {"ffn_size", o.ffn_size},
                   {"bias", o.bias},
                   {"vocabulary", o.task.vocabulary},
                   {"triggers", o.task.triggers},
                   {"sequence_length", o.task.sequence_length},
                   {"dirichlet_alpha", number(o.task.dirichlet_alpha)},
                   {"table_seed", o.task.table_seed},
                   {"eval_sequences", o.eval_sequences},
                   {"calibration_batches", o.calibration_batches},
                   {"percentile", number(o.percentile)},
                   {"clip_gamma", number(o.clip_gamma)},
                   {"clip_zeta", number(o.clip_zeta)},
                   {"gate_init_pi", number(o.gate_init_pi)},
                   {"threads", r.threads}};
  json variants = json::object();
  for (const BackcopyVariantResult& v : r.variants) {
    json per_seed = json::array();
    for (const BackcopyRun& s : v.per_seed) {
      json layers = json::array();
      for (double b : s.bos_attention_per_layer) layers.push_back(number(b));
      per_seed.push_back({{"seed", s.seed},
                          {"fp_metric", number(s.fp_metric)},
                          {"w8a8_metric", number(s.w8a8_metric)},
                          {"copy_loss", number(s.copy_loss)},
                          {"bigram_loss", number(s.bigram_loss)},
                          {"avg_kurtosis", number(s.avg_kurtosis)},
                          {"max_inf_norm", number(s.max_inf_norm)},
                          {"avg_kurtosis_attention", number(s.avg_kurtosis_attention)},
                          {"max_inf_norm_attention", number(s.max_inf_norm_attention)},
                          {"bos_attention", number(s.bos_attention)},
                          {"bos_attention_per_layer", layers},
                          {"avg_kurtosis_no_bos", number(s.avg_kurtosis_no_bos)},
                          {"max_inf_norm_no_bos", number(s.max_inf_norm_no_bos)},
                          {"final_train_loss", number(s.final_train_loss)},
                          {"train_seconds", number(s.train_seconds)},
                          {"tensors", tensors_json(s.tensors)},
                          {"tensors_no_bos", tensors_json(s.tensors_no_bos)}});
    }
    variants[v.variant] = {{"fp_metric", number(v.fp_metric)},
                           {"w8a8_metric", number(v.w8a8_metric)},
                           {"copy_loss", number(v.copy_loss)},
                           {"bigram_loss", number(v.bigram_loss)},
                           {"avg_kurtosis", number(v.avg_kurtosis)},
                           {"max_inf_norm", number(v.max_inf_norm)},
                           {"avg_kurtosis_attention", number(v.avg_kurtosis_attention)},
                           {"max_inf_norm_attention", number(v.max_inf_norm_attention)},
                           {"bos_attention", number(v.bos_attention)},
                           {"avg_kurtosis_no_bos", number(v.avg_kurtosis_no_bos)},
                           {"max_inf_norm_no_bos", number(v.max_inf_norm_no_bos)},
                           {"per_seed", per_seed}};
  }
  const json out = {{"task", r.task}, {"metric", r.metric}, {"settings", settings}, {"variants", variants}};
  return out.dump(2) + "\n";
}

void write_backcopy_json(const BackcopyStudyResult& result, const std::string& path) {
  writeFileAtomic(path, backcopy_json(result));
}

}  // namespace vqa::study
