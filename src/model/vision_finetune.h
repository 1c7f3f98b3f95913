// End-to-end fine-tuning of the scene parser from answers: for training images and their question-answer
// pairs, the SoftExecutor runs each question's program (fixed: the model's own program, kept only where it
// answers the question on the annotated scene) on the SoftScene the parser makes of the image, and the
// answer's negative log-likelihood flows back through the executor into the parser (existence, attributes,
// positions and relations), next to the parser's own annotation losses (weight --annotation-weight).
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>

namespace vqa::model {

struct FinetuneVisionOptions {
  std::string data_dir, split = "train";
  std::string model_path;       // a --scene vision engine model, replaced by the fine-tuned one at the end
  int64_t steps = 500;
  int batch_size = 8;           // images per step
  int questions_per_image = 4;  // question-answer pairs per image and step
  // The pairs it may learn from: those its program run trained on (selectQuestions with the seed, programs
  // and qa_fraction the model records as trained_on), so that a model trained on a share of the pairs is
  // fine-tuned on that share only. qa_fraction > 0 asks for another share of the same seeded order (1: every
  // pair); `programs` and `seed` stand in for a model that records nothing.
  double qa_fraction = 0;
  int64_t programs = 270;
  double learning_rate = 1e-4;
  double weight_decay = 1e-4;
  double annotation_weight = 1.0;  // weight of the parser's annotation losses beside the answer loss
  // true: about half the images are mirrored left-right (pixels and annotations, as train-vision --flip);
  // the relations read from a mirrored image swap left and right before the program runs, so each answer
  // stays true of it.
  bool flip = false;
  uint64_t seed = 0;
  int threads = 1;
  bool resume = false;          // continue MODEL.finetune.bin (the stage's checkpoint) where it stopped
  int64_t stop_at = 0;          // > 0: checkpoint and stop after this step (resume later)
  double checkpoint_seconds = 120;
  double log_seconds = 10;
};

struct FinetuneVisionResult {
  int64_t steps = 0, start_step = 0;
  double seconds = 0, last_loss = 0;
  int64_t questions = 0;  // question-answer pairs with a program that answers them on the annotated scene
};

// Throws std::runtime_error("--option: problem") for an option out of range. Does no work.
void checkFinetuneVisionOptions(const FinetuneVisionOptions& options);

// Checkpoints to MODEL.finetune.bin (atomic, resumable), logs to MODEL.finetune.metrics.jsonl, draws
// MODEL.finetune.curves.png, and at the end writes the fine-tuned model over MODEL (atomically) and removes
// the checkpoint.
FinetuneVisionResult finetuneVision(const FinetuneVisionOptions& options, std::ostream& log);

}  // namespace vqa::model
