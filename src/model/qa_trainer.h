// Training the engine from question-answer pairs with a few supervised programs (scenes from ground truth).
//
// The recipe: (1) warm start: the ProgramParser learns P supervised programs (a few per question family), read
// with the question's phrases as placeholders it points at (program/concepts.h);
// (2) rounds of search and learning: for every training question, K programs are sampled from the parser
// (type-checked, grounded in the question's concept words) besides the greedy one, each is run with the exact
// executor on the question's scene; questions that read the same (phrases as placeholders) share the
// candidate that answers most of them, else a question keeps its own most probable consistent program, as
// its pseudo-program (kept until a better one is found); the parser then learns the pseudo-programs
// and the supervised ones (cross-entropy) together with the answer likelihood of its soft program through the
// differentiable SoftExecutor. Checkpoints are atomic and hold everything a resumed run needs to continue
// exactly (weights, optimizer state, pseudo-programs, step).
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

#include "model/engine_model.h"
#include "training/distributed.h"

namespace vqa::model {

struct TrainQaOptions {
  std::string data_dir, out_path;
  std::string split = "train", val_split = "val";
  std::string log_path;     // metrics log (JSON lines); default OUT.metrics.jsonl
  std::string curves_path;  // PNG of the curves; default OUT.curves.png
  int64_t programs = 270;   // supervised warm-start programs, spread evenly over the question families
  double qa_fraction = 1.0; // share of the split's question-answer pairs used (a seeded random subset)
  int64_t warm_steps = 600;
  int rounds = 4;           // search-and-learn rounds
  int64_t round_steps = 800;
  int samples = 8;          // programs sampled per question and round
  int wide_samples = 64;    // sampled again, per question, for groups the round's search left without a program
  int64_t search_questions = 0;  // questions searched per round, a rotating slice of the QA pairs (0: all)
  double temperature = 1.0;
  int batch_size = 64;
  double learning_rate = 1e-3;
  double weight_decay = 0.01;
  double answer_loss = 0;   // weight of the SoftExecutor answer likelihood (0: programs only)
  int64_t stop_at = 0;      // > 0: checkpoint and stop after this step (resume later)
  uint64_t seed = 0;
  int threads = 1;
  bool resume = false;
  double checkpoint_seconds = 120;
  double log_seconds = 10;
  int val_questions = 1000; // validation questions after the warm start and each round (0: none)
  // --scene vision: the scene parser the model reads images with, from this file (vqa train-vision, or the one
  // inside an engine); when empty, one is trained first on the data's scene annotations and kept at
  // OUT.vision.bin (resumable too).
  // The program search still runs on the annotated scenes of the training split.
  std::string vision_path;
  int64_t vision_steps = 2000;  // steps of that scene parser training
  // Data-parallel over processes (world > 1): each takes its share of every batch and of every round's search,
  // rank 0 validates, logs and writes OUT. A --scene vision run needs its scene parser given (--vision).
  training::DistributedOptions distributed;
  EngineModelOptions model = [] {
    EngineModelOptions m;
    m.parser.max_program_tokens = 32;  // CLEVR's longest program is 25 tokens in postfix order, plus <end>
    return m;
  }();
};

struct TrainQaResult {
  int64_t steps = 0, start_step = 0;
  double seconds = 0;
  nlohmann::json last_validation;  // {accuracy, program_exact_match, questions}
};

// Throws std::runtime_error("--option: problem") for an option out of range. Does no work.
void checkTrainQaOptions(const TrainQaOptions& options);

// Trains (or resumes) and writes OUT atomically at every checkpoint and at the end; progress lines go to `log`.
TrainQaResult trainQaModel(const TrainQaOptions& options, std::ostream& log);

// --scene vision with a program model trained already: OUT = the programs of `programs_from` (an oracle-scene
// engine model) + the scene parser (--vision, or trained as trainQaModel would). No program training.
void joinSceneParser(const TrainQaOptions& options, const std::string& programs_from, std::ostream& log);

}  // namespace vqa::model
