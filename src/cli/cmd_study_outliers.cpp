// `vqa study-outliers`: trains the small Hopfield transformer once per attention variant and prints
// the FP32 / W8A8 / outlier table (markdown), optionally as JSON.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <unistd.h>

#include "cli/command.h"
#include "hopfield/outlier_study.h"
#include "hopfield/threads.h"

namespace {

struct StudyArgs {
  std::string json_path;
  std::vector<std::string> variants = {"softmax", "softmax1", "clipped", "gated"};
  std::string objective = "tagging";
  int threads = 1;
  vqa::hopfield::OutlierStudyOptions options;
};

void print_progress(const vqa::hopfield::StudyProgress& p, bool terminal) {
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

}  // namespace

static vqa::cli::Registrar reg(
    "study-outliers",
    "Train the Hopfield tagger once per attention variant, quantize W8A8, report accuracy and outlier statistics",
    [](CLI::App& app) {
      auto args = std::make_shared<StudyArgs>();
      auto& o = args->options;
      app.add_option("--json", args->json_path, "Also write the results as JSON to FILE")->type_name("FILE");
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
      app.callback([args]() {
        vqa::hopfield::set_compute_threads(args->threads);
        args->options.variants.clear();
        args->options.objective = args->objective == "mlm" ? vqa::hopfield::StudyObjective::MaskedWords
                                                           : vqa::hopfield::StudyObjective::Tagging;
        for (const auto& name : args->variants) args->options.variants.push_back(vqa::hopfield::parse_attention_kind(name));
        if (!args->json_path.empty()) {  // fail before minutes of training, not after
          const std::string probe = args->json_path + ".tmp";
          std::FILE* f = std::fopen(probe.c_str(), "wb");
          if (!f) throw std::runtime_error(args->json_path + ": cannot write here");
          std::fclose(f);
          std::remove(probe.c_str());
        }
        const bool terminal = isatty(fileno(stderr));
        auto result = vqa::hopfield::run_outlier_study(
            args->options, [terminal](const vqa::hopfield::StudyProgress& p) { print_progress(p, terminal); });
        std::cout << vqa::hopfield::study_markdown(result) << std::flush;
        if (!args->json_path.empty()) vqa::hopfield::write_study_json(result, args->json_path);
      });
    });
