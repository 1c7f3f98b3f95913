// The GQA engine: a GQA program model (program/gqa_program_parser.h) trained on the `semantic` programs of a
// questions file, its model file, and its evaluation: program exact-match per structural type and, on images
// with scene graphs, answers through the model's programs run by the GqaSoftExecutor, scored with GQA's
// official metrics.
//
// The model file records the options, the question tokenizer, the program vocabulary, the attribute lexicon
// of the training programs (which values are colors, materials, ...: the executor needs it), the images held
// out of training, and the training state; a checkpoint is the same file with the optimizer's moments, so a
// resumed run continues exactly.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/scene_graph.h"
#include "datasets/gqa/gqa_io.h"
#include "executor/symbolic_executor.h"
#include "program/gqa_program_parser.h"
#include "program/tokenizer.h"
#include "training/distributed.h"

namespace vqa::model {

extern const char* const kGqaModelKind;  // "vqa-gqa-program-model"
constexpr int kGqaModelVersion = 1;

struct TrainGqaOptions {
  std::string questions_path, scene_graphs_path, out_path;
  std::string log_path, curves_path;  // default OUT.metrics.jsonl, OUT.curves.png
  double holdout = 0.2;               // share of the file's images held out (never trained on)
  uint64_t split_seed = 0;            // which images
  int64_t steps = 3000;
  int batch_size = 32;
  double learning_rate = 1e-3, weight_decay = 0.01;
  int64_t warmup_steps = 100;
  int min_word_count = 1;             // program words seen fewer times are written by copying only
  int64_t val_every = 500;            // exact-match on the held-out questions every N steps (0: at the end only)
  int64_t stop_at = 0;
  uint64_t seed = 0;
  int threads = 2;
  bool resume = false;
  double checkpoint_seconds = 120, log_seconds = 10;
  // Data-parallel over processes (training/distributed.h): each takes its share of every global batch of
  // batch_size; rank 0 alone logs, validates and writes the model.
  training::DistributedOptions distributed;
  program::ProgramParserOptions parser = [] {
    program::ProgramParserOptions p;
    p.model_size = 128;
    p.num_heads = 4;
    p.encoder_layers = p.decoder_layers = 2;
    p.max_question_tokens = 48;
    p.max_program_tokens = 96;
    p.dropout = 0.1;
    return p;
  }();
};

struct GqaModel {
  program::QuestionTokenizer tokenizer;
  program::GqaProgramVocabulary vocabulary;
  GqaLexicon lexicon;
  std::set<std::string> heldout_images;
  program::GqaProgramParser parser{nullptr};
  nlohmann::json training;  // questions file, step, steps, seed, ...
};

// Throws std::runtime_error("--option: problem"). Does no work.
void checkTrainGqaOptions(const TrainGqaOptions& options);

struct TrainGqaResult {
  int64_t steps = 0, start_step = 0;
  double seconds = 0;
  nlohmann::json last_validation;  // the evaluation's JSON on the held-out questions
};
TrainGqaResult trainGqaModel(const TrainGqaOptions& options, std::ostream& log);

// Throws std::runtime_error("PATH: problem") for a missing, foreign, truncated or inconsistent file.
std::unique_ptr<GqaModel> loadGqaModel(const std::string& path);

// One question's outcome.
struct GqaModelAnswer {
  std::vector<std::string> tokens;   // the decoded program
  bool exact = false;                // equals the question's program (when it has one)
  bool answered = false;             // its image has a scene graph and the program was run
  std::string answer, symbolic_answer, error;
  double probability = 0;
};

struct GqaModelEvaluation {
  std::vector<GqaModelAnswer> answers;  // one per question, in order
  nlohmann::json summary;               // exact-match overall and per structural type; answers and GQA's metrics
};
// Decodes every question's program; where `graphs` holds its image, runs it with the GqaSoftExecutor on the
// one-hot scene graph (and with GqaExecutor, for agreement) and scores the answers with scoreGqa.
GqaModelEvaluation evaluateGqaModel(GqaModel& model, const std::vector<GqaQuestion>& questions,
                                    const std::map<std::string, SceneGraph>* graphs);

}  // namespace vqa::model
