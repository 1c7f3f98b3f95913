// `vqa study-outliers`: trains the small Hopfield transformer once per attention variant and prints
// the FP32 / W8A8 / outlier table (markdown), optionally as JSON.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <unistd.h>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "study/outlier_study.h"
#include "hopfield/threads.h"

namespace {

struct StudyArgs {
  std::string json_path;
  std::vector<std::string> variants = {"softmax", "softmax1", "clipped", "gated"};
  std::string objective = "tagging";
  int threads = 1;
  vqa::study::OutlierStudyOptions options;
};

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
  if (o.model_size % o.num_heads != 0)
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
}

}  // namespace

static vqa::cli::Registrar reg(
    "study-outliers",
    "Train the Hopfield tagger once per attention variant, quantize W8A8, report accuracy and outlier statistics",
    [](CLI::App& app) {
      auto args = std::make_shared<StudyArgs>();
      auto& o = args->options;
      CLI::Option* json_option = app.add_option("--json", args->json_path, "Also write the results as JSON to FILE")->type_name("FILE");
      app.add_option("--variants", args->variants, "Variants to train (softmax softmax1 clipped gated)");
      app.add_option("--objective", args->objective, "tagging (program token per word) or mlm (masked words)")
          ->check(CLI::IsMember({"tagging", "mlm"}))
          ->capture_default_str();
      app.add_option("--steps", o.steps, "Training steps per variant")->capture_default_str();
      app.add_option("--batch-size", o.batch_size, "Training batch size")->capture_default_str();
      app.add_option("--lr", o.learning_rate, "Peak learning rate (AdamW)")->capture_default_str();
      app.add_option("--weight-decay", o.weight_decay, "AdamW weight decay")->capture_default_str();
      app.add_option("--layers", o.layers, "Transformer blocks")->capture_default_str();
      app.add_flag("--pre-norm", o.pre_norm, "Pre-LN blocks (OPT layout) instead of post-LN (BERT layout)");
      app.add_option("--model-size", o.model_size, "Model width")->capture_default_str();
      app.add_option("--heads", o.num_heads, "Attention heads")->capture_default_str();
      app.add_option("--ffn-size", o.ffn_size, "Feed-forward width")->capture_default_str();
      app.add_option("--seed", o.seed, "Seed shared by every variant")->capture_default_str();
      app.add_option("--eval-questions", o.eval_questions, "Held-out questions")->capture_default_str();
      app.add_option("--calibration-batches", o.calibration_batches, "W8A8 calibration batches")->capture_default_str();
      app.add_option("--percentile", o.percentile, "Activation range percentile (0 = min-max)")->capture_default_str();
      app.add_option("--clip-gamma", o.clip_gamma, "Clipped softmax gamma")->capture_default_str();
      app.add_option("--gate-pi", o.gate_init_pi, "Gated attention initial gate probability")->capture_default_str();
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
        const bool write_json = json_option->count() > 0;
        if (write_json) vqa::cli::checkOutputFile("--json", args->json_path);  // before minutes of training
        const bool terminal = isatty(fileno(stderr));
        auto result = vqa::study::run_outlier_study(
            args->options, [terminal](const vqa::study::StudyProgress& p) { print_progress(p, terminal); });
        std::cout << vqa::study::study_markdown(result) << std::flush;
        if (write_json) vqa::study::write_study_json(result, args->json_path);
      });
    });
