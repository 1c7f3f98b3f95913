// The engine's model as users hold it: the question tokenizer and the ProgramParser (question -> program),
// with where scenes come from (`oracle`: ground-truth scene graphs; `vision`: the SceneParser the model holds,
// pixels -> SoftScene), in one model file of kind "vqa-model" that records the format version, every part's
// options and vocabularies, the weights and, in checkpoints, the training state. Answering = type-checked
// decoding (grounded in the question's concept words) + execution.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/scene_graph.h"
#include "program/program_parser.h"
#include "program/tokenizer.h"
#include "training/model_file.h"
#include "vision/scene_parser.h"

namespace vqa::model {

constexpr const char* kEngineModelKind = "vqa-model";
constexpr int kEngineModelFormatVersion = 1;

struct EngineModelOptions {
  std::string scene = "oracle";  // where scenes come from: oracle | vision
  bool concept_mask = true;      // filter / relate tokens only for concepts the question names
  bool phrase_pointers = true;   // the parser reads phrases as <npK> and points at them (program/concepts.h)
  program::ProgramParserOptions parser;
};

// The question as the parser reads it (phrases as <npK> with phrase_pointers).
std::string parserText(const EngineModelOptions& options, const std::string& question);

class EngineModel {
 public:
  // A fresh parser (weights from the current torch seed) for this tokenizer; parser.question_vocab_size and
  // parser.pointer_tokens are set from the tokenizer and phrase_pointers.
  EngineModel(program::QuestionTokenizer tokenizer, EngineModelOptions options);

  // Encoder ids of a question (never throws: unknown words are <unk>, an over-long question is cut).
  std::vector<int64_t> encode(const std::string& question) const;
  // The question's concept mask (all ones when concept_mask is off).
  std::vector<uint8_t> tokenMask(const std::string& question) const;
  // The filter chains of the question's phrases (none when phrase_pointers is off).
  std::vector<std::vector<int>> phraseChains(const std::string& question) const;
  // A program as the parser writes it: filter runs that equal a phrase's chain as pointer ids.
  std::vector<int> parserTargets(const std::string& question, const std::vector<int>& program) const;
  // Decodes questions in batches of `batch_size` (greedy, or `samples` sampled programs per question).
  std::vector<program::DecodedProgram> parse(const std::vector<std::string>& questions, int batch_size = 64,
                                             int64_t samples = 0, uint64_t seed = 0, double temperature = 1.0);

  program::QuestionTokenizer tokenizer;
  EngineModelOptions options;
  program::ProgramParser parser{nullptr};
  vision::SceneParser vision{nullptr};  // set when options.scene is "vision"
  // null: floating point; else what quantizeEngine did (model/engine_quantization.h), and the model runs int8.
  nlohmann::json quantization;
  // The questions its programs learnt from, {split, seed, programs, qa_fraction} as selectQuestions took them
  // (model/qa_data.h); null when not recorded. Later stages (fine-tuning from answers) keep to that share.
  nlohmann::json trained_on;
};

// Tracks outlier statistics (hopfield/outliers.h) of every attention block of the engine: the program parser's
// encoder blocks and decoder layers (program.encoder.i, program.decoder.i) and the scene parser's slot context
// (vision.context); null stops tracking.
void trackOutliers(EngineModel& model, hopfield::OutlierStats* stats);

// Writes the model atomically; `training` (an object) and `extra` tensors make it a resumable checkpoint. A
// quantized model is written with int8 weight codes and its calibrated ranges (and never as a checkpoint).
void saveEngineModel(const std::string& path, EngineModel& model, const nlohmann::json& training = nullptr,
                     const training::NamedTensors& extra = {});

struct LoadedEngineModel {
  std::unique_ptr<EngineModel> model;
  training::ModelFile file;  // header and every tensor (training state included)
};
// Throws std::runtime_error("PATH: problem") for a missing, foreign, wrong-version, truncated or corrupt file,
// or one whose vocabularies differ from this build's. A quantized model comes back running int8.
LoadedEngineModel loadEngineModel(const std::string& path);

// ---- Answering with ground-truth scenes ----------------------------------------------------------------
struct AnsweredQuestion {
  std::vector<int> program;  // postfix program tokens
  std::string answer;        // empty when the program could not run
  std::string error;
};
// Parses each question and runs its program with the exact executor on the given scene. Execution- and
// coverage-guided: where the greedy program cannot run on its scene (`unique` of no object or of several) or
// leaves one of the question's phrases unused (program/concepts.h: coversPhrases), `retry_samples` sampled
// programs (seeded by the question, so answers are reproducible) are tried and the most probable one that
// runs and uses every phrase is kept (failing that, where the greedy one cannot run, the most probable that
// runs); 0 keeps the greedy program whatever happens. The answer is never consulted.
constexpr int kDefaultRetrySamples = 16;
std::vector<AnsweredQuestion> answerWithScenes(EngineModel& model, const std::vector<std::string>& questions,
                                               const std::vector<const SceneGraph*>& scenes, int batch_size = 64,
                                               int retry_samples = kDefaultRetrySamples);

}  // namespace vqa::model
