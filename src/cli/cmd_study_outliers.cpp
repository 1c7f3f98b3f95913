// `vqa study-outliers`: trains the small Hopfield transformer once per attention variant and prints
// the FP32 / W8A8 / outlier table (markdown), optionally as JSON. `--task tagging` (the default) is the
// program-token tagger; `--task backcopy` is the causal Bigram-Backcopy language model over several seeds.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <unistd.h>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "study/backcopy_study.h"
#include "study/outlier_study.h"
#include "hopfield/threads.h"

namespace {

struct StudyArgs {
  std::string json_path;
  std::vector<std::string> variants = {"softmax", "softmax1", "clipped", "gated"};
  std::string objective = "tagging";
  std::string task = "tagging";
  int threads = 1;
  vqa::study::OutlierStudyOptions options;
  vqa::study::BackcopyStudyOptions backcopy;
  std::map<std::string, CLI::Option*> given;  // options whose presence matters (shared or task-specific)
};

bool was_given(const StudyArgs& a, const std::string& option) {
  auto it = a.given.find(option);
  return it != a.given.end() && it->second->count() > 0;
}

void print_progress(const vqa::study::StudyProgress& p, bool terminal) {
  std::ostringstream line;
  line << "[" << p.variant << "] " << p.phase;
  if (p.phase == "train") {
    const double rate = p.elapsed_seconds > 0 ? static_cast<double>(p.done) / p.elapsed_seconds : 0.0;
    const double eta = rate > 0 ? static_cast<double>(p.total - p.done) / rate : 0.0;
    line << " step " << p.done << "/" << p.total << "  loss " << p.loss << "  " << static_cast<int>(rate)
         << " steps/s  ETA " << static_cast<int>(eta) << " s";
  } else if (p.phase == "calibrate") {
    line << " " << p.total << " batches";
  } else {
    line << " done (" << static_cast<int>(p.elapsed_seconds) << " s)";
  }
  if (terminal) {
    std::cerr << "\r\033[K" << line.str() << (p.phase == "train" && p.done < p.total ? "" : "\n") << std::flush;
  } else {
    std::cerr << line.str() << "\n";
  }
}

// Every numeric option in range before any training starts: one line naming the option.
void check_study_options(const StudyArgs& a) {
  const auto& o = a.options;
  auto positive = [](const char* option, int64_t v) {
    if (v < 1) throw std::runtime_error(std::string(option) + ": must be at least 1 (got " + std::to_string(v) + ")");
  };
  auto finite = [](const char* option, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi)
      throw std::runtime_error(std::string(option) + ": must be a number in [" + std::to_string(lo) + ", " +
                               std::to_string(hi) + "] (got " + std::to_string(v) + ")");
  };
  positive("--steps", o.steps);
  positive("--batch-size", o.batch_size);
  positive("--layers", o.layers);
  positive("--model-size", o.model_size);
  positive("--heads", o.num_heads);
  positive("--ffn-size", o.ffn_size);
  positive("--eval-questions", o.eval_questions);
  positive("--calibration-batches", o.calibration_batches);
  if (a.task == "tagging" && o.model_size % o.num_heads != 0)
    throw std::runtime_error("--heads: " + std::to_string(o.num_heads) + " does not divide --model-size " +
                             std::to_string(o.model_size));
  if (o.layers > 64 || o.model_size > 4096 || o.ffn_size > 16384 || o.num_heads > 256 || o.batch_size > 65536)
    throw std::runtime_error("--layers/--model-size/--ffn-size/--heads/--batch-size: larger than this command supports "
                             "(64 layers, width 4096, ffn 16384, 256 heads, batch 65536)");
  finite("--lr", o.learning_rate, 1e-12, 10.0);
  finite("--weight-decay", o.weight_decay, 0.0, 10.0);
  finite("--percentile", o.percentile, 0.0, 100.0);
  finite("--clip-gamma", o.clip_gamma, -1.0, 0.0);
  finite("--gate-pi", o.gate_init_pi, 1e-6, 1.0 - 1e-6);
  if (a.threads < 1 || a.threads > 256)
    throw std::runtime_error("--threads: must be in [1, 256] (got " + std::to_string(a.threads) + ")");
  if (a.variants.empty()) throw std::runtime_error("--variants: name at least one variant");
  const bool backcopy = a.task == "backcopy";
  for (const char* option : {"--objective", "--eval-questions", "--pre-norm"})
    if (backcopy && was_given(a, option))
      throw std::runtime_error(std::string(option) + ": only with --task tagging");
  for (const char* option : {"--seeds", "--eval-sequences", "--bias"})
    if (!backcopy && was_given(a, option))
      throw std::runtime_error(std::string(option) + ": only with --task backcopy");
  if (backcopy) {
    positive("--seeds", a.backcopy.seeds);
    positive("--eval-sequences", a.backcopy.eval_sequences);
    if (a.backcopy.seeds > 1000) throw std::runtime_error("--seeds: at most 1000 (got " + std::to_string(a.backcopy.seeds) + ")");
  }
}

// The shared options given on the command line replace the backcopy study's own defaults.
void apply_shared_options(StudyArgs& a) {
  const auto& o = a.options;
  auto& b = a.backcopy;
  if (was_given(a, "--steps")) b.steps = o.steps;
  if (was_given(a, "--batch-size")) b.batch_size = o.batch_size;
  if (was_given(a, "--lr")) b.learning_rate = o.learning_rate;
  if (was_given(a, "--weight-decay")) b.weight_decay = o.weight_decay;
  if (was_given(a, "--layers")) b.layers = o.layers;
  if (was_given(a, "--model-size")) b.model_size = o.model_size;
  if (was_given(a, "--heads")) b.num_heads = o.num_heads;
  if (was_given(a, "--ffn-size")) b.ffn_size = o.ffn_size;
  if (was_given(a, "--seed")) b.seed = o.seed;
  if (was_given(a, "--calibration-batches")) b.calibration_batches = o.calibration_batches;
  if (was_given(a, "--percentile")) b.percentile = o.percentile;
  if (was_given(a, "--clip-gamma")) b.clip_gamma = o.clip_gamma;
  if (was_given(a, "--gate-pi")) b.gate_init_pi = o.gate_init_pi;
  if (b.model_size % b.num_heads != 0)
    throw std::runtime_error("--heads: " + std::to_string(b.num_heads) + " does not divide --model-size " +
                             std::to_string(b.model_size));
}

}  // namespace

static vqa::cli::Registrar reg(
    "study-outliers",
    "Train the Hopfield tagger once per attention variant, quantize W8A8, report accuracy and outlier statistics",
    [](CLI::App& app) {
      auto args = std::make_shared<StudyArgs>();
      auto& o = args->options;
      CLI::Option* json_option = app.add_option("--json", args->json_path, "Also write the results as JSON to FILE")->type_name("FILE");
      auto& given = args->given;
      auto& b = args->backcopy;
      app.add_option("--task", args->task,
                     "tagging (program-token tagger) or backcopy (causal Bigram-Backcopy LM, where outliers grow; "
                     "its defaults: 3000 steps x batch 32, lr 1e-3, wd 1e-4, 3 pre-LN layers, d 64, 2 heads, "
                     "ffn 256, seed 1)")
          ->check(CLI::IsMember({"tagging", "backcopy"}))
          ->capture_default_str();
      app.add_option("--variants", args->variants, "Variants to train (softmax softmax1 clipped gated)");
      given["--objective"] = app.add_option("--objective", args->objective, "tagging (program token per word) or mlm (masked words); --task tagging only")
          ->check(CLI::IsMember({"tagging", "mlm"}))
          ->capture_default_str();
      given["--steps"] = app.add_option("--steps", o.steps, "Training steps per variant (and seed)")->capture_default_str();
      given["--batch-size"] = app.add_option("--batch-size", o.batch_size, "Training batch size")->capture_default_str();
      given["--lr"] = app.add_option("--lr", o.learning_rate, "Peak learning rate (AdamW)")->capture_default_str();
      given["--weight-decay"] = app.add_option("--weight-decay", o.weight_decay, "AdamW weight decay")->capture_default_str();
      given["--layers"] = app.add_option("--layers", o.layers, "Transformer blocks")->capture_default_str();
      given["--pre-norm"] = app.add_flag("--pre-norm", o.pre_norm, "Pre-LN blocks (OPT layout) instead of post-LN (BERT layout); --task tagging only (backcopy is always pre-LN)");
      given["--model-size"] = app.add_option("--model-size", o.model_size, "Model width")->capture_default_str();
      given["--heads"] = app.add_option("--heads", o.num_heads, "Attention heads")->capture_default_str();
      given["--ffn-size"] = app.add_option("--ffn-size", o.ffn_size, "Feed-forward width")->capture_default_str();
      given["--seed"] = app.add_option("--seed", o.seed, "Seed shared by every variant (backcopy: the first of --seeds)")->capture_default_str();
      given["--seeds"] = app.add_option("--seeds", b.seeds, "Seeds per variant, --seed, --seed + 1, ...; --task backcopy only")->capture_default_str();
      given["--eval-questions"] = app.add_option("--eval-questions", o.eval_questions, "Held-out questions; --task tagging only")->capture_default_str();
      given["--bias"] = app.add_flag("--bias", b.bias, "Biases in the attention projections and the MLP; --task backcopy only (the protocol has none)");
      given["--eval-sequences"] = app.add_option("--eval-sequences", b.eval_sequences, "Held-out sequences; --task backcopy only")->capture_default_str();
      given["--calibration-batches"] = app.add_option("--calibration-batches", o.calibration_batches, "W8A8 calibration batches (backcopy default: 4 training batches)")->capture_default_str();
      given["--percentile"] = app.add_option("--percentile", o.percentile, "Activation range percentile (0 = min-max)")->capture_default_str();
      given["--clip-gamma"] = app.add_option("--clip-gamma", o.clip_gamma, "Clipped softmax gamma")->capture_default_str();
      given["--gate-pi"] = app.add_option("--gate-pi", o.gate_init_pi, "Gated attention initial gate probability")->capture_default_str();
      app.add_option("--threads", args->threads, "Torch intra-op threads (OpenBLAS gets the same count)")->capture_default_str();
      app.callback([args, json_option]() {
        check_study_options(*args);
        vqa::hopfield::set_compute_threads(args->threads);
        args->options.variants.clear();
        args->options.objective = args->objective == "mlm" ? vqa::study::StudyObjective::MaskedWords
                                                           : vqa::study::StudyObjective::Tagging;
        for (const auto& name : args->variants) {
          try {
            args->options.variants.push_back(vqa::hopfield::parse_attention_kind(name));
          } catch (const std::exception& e) {
            throw std::runtime_error(std::string("--variants: ") + e.what());
          }
        }
        if (args->task == "backcopy") {
          apply_shared_options(*args);
          args->backcopy.variants = args->options.variants;
        }
        const bool write_json = json_option->count() > 0;
        if (write_json) vqa::cli::checkOutputFile("--json", args->json_path);  // before minutes of training
        const bool terminal = isatty(fileno(stderr));
        if (args->task == "backcopy") {
          auto result = vqa::study::run_backcopy_study(
              args->backcopy, [terminal](const vqa::study::StudyProgress& p) { print_progress(p, terminal); });
          std::cout << vqa::study::backcopy_markdown(result) << std::flush;
          if (write_json) vqa::study::write_backcopy_json(result, args->json_path);
          return;
        }
        auto result = vqa::study::run_outlier_study(
            args->options, [terminal](const vqa::study::StudyProgress& p) { print_progress(p, terminal); });
        std::cout << vqa::study::study_markdown(result) << std::flush;
        if (write_json) vqa::study::write_study_json(result, args->json_path);
      });
    });
