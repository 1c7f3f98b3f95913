// The engine's model file and answering with ground-truth scenes.
#include "model/engine_model.h"

#include <ATen/core/grad_mode.h>

#include <limits>
#include <stdexcept>

#include "core/hash.h"
#include "core/typed_program.h"
#include "core/vocab.h"
#include "executor/symbolic_executor.h"
#include "model/engine_quantization.h"
#include "program/concepts.h"

namespace vqa::model {

namespace {

nlohmann::json vocabularies() {
  nlohmann::json tokens = nlohmann::json::array();
  for (const auto& t : programTokens()) tokens.push_back(t.text);
  return {{"program_tokens", tokens}, {"answers", clevr::answers()}};
}

}  // namespace

EngineModel::EngineModel(program::QuestionTokenizer tokenizer_, EngineModelOptions options_)
    : tokenizer(std::move(tokenizer_)), options(std::move(options_)) {
  options.parser.question_vocab_size = tokenizer.size();
  options.parser.pointer_tokens = options.phrase_pointers ? program::kMaxPhrases : 0;
  parser = program::ProgramParser(options.parser);
}

std::string parserText(const EngineModelOptions& options, const std::string& question) {
  return options.phrase_pointers ? program::phraseView(question).question : question;
}

std::vector<int64_t> EngineModel::encode(const std::string& question) const {
  return program::encodeQuestionForParser(tokenizer, parserText(options, question), options.parser.max_question_tokens);
}

std::vector<std::vector<int>> EngineModel::phraseChains(const std::string& question) const {
  if (!options.phrase_pointers) return {};
  return program::phraseView(question).chains;
}

std::vector<int> EngineModel::parserTargets(const std::string& question, const std::vector<int>& program) const {
  if (!options.phrase_pointers) return program;
  return program::pointProgram(program, phraseChains(question), numProgramTokens());
}

std::vector<uint8_t> EngineModel::tokenMask(const std::string& question) const {
  if (!options.concept_mask) return std::vector<uint8_t>(static_cast<size_t>(numProgramTokens()), 1);
  return program::conceptTokenMask(question);
}

std::vector<program::DecodedProgram> EngineModel::parse(const std::vector<std::string>& questions, int batch_size,
                                                        int64_t samples, uint64_t seed, double temperature) {
  std::vector<program::DecodedProgram> out;
  out.reserve(questions.size() * static_cast<size_t>(std::max<int64_t>(1, samples)));
  const size_t step = static_cast<size_t>(std::max(1, batch_size));
  for (size_t start = 0; start < questions.size(); start += step) {
    const size_t end = std::min(questions.size(), start + step);
    std::vector<std::vector<int64_t>> ids;
    std::vector<std::vector<uint8_t>> masks;
    std::vector<std::vector<std::vector<int>>> chains;
    for (size_t k = start; k < end; ++k) {
      ids.push_back(encode(questions[k]));
      masks.push_back(tokenMask(questions[k]));
      chains.push_back(phraseChains(questions[k]));
    }
    program::DecodeOptions o;
    o.samples = samples;
    o.temperature = temperature;
    o.seed = seed + start;  // each batch its own stream; the same questions and seed give the same programs
    o.token_masks = &masks;
    if (options.phrase_pointers) o.phrase_chains = &chains;
    for (auto& d : parser->decodeBatch(ids, o)) out.push_back(std::move(d));
  }
  return out;
}

void trackOutliers(EngineModel& model, hopfield::OutlierStats* stats) {
  model.parser->track_outliers(stats, "program");
  if (model.vision) model.vision->track_outliers(stats, "vision");
}

void saveEngineModel(const std::string& path, EngineModel& model, const nlohmann::json& training,
                     const training::NamedTensors& extra) {
  nlohmann::json header = {{"kind", kEngineModelKind},
                           {"format_version", kEngineModelFormatVersion},
                           {"scene", model.options.scene},
                           {"concept_mask", model.options.concept_mask},
                           {"phrase_pointers", model.options.phrase_pointers},
                           {"program", {{"options", model.parser->options().toJson()},
                                        {"tokenizer", model.tokenizer.toJson()}}},
                           {"vocabularies", vocabularies()}};
  if (model.options.scene == "vision") {
    if (!model.vision) throw std::invalid_argument("saveEngineModel: a vision model without its scene parser");
    header["vision"] = {{"options", model.vision->options().toJson()}, {"vocabularies", vision::sceneVocabularies()}};
  }
  const bool quantized = !model.quantization.is_null();
  if (quantized && (training.is_object() || !extra.empty()))
    throw std::invalid_argument("saveEngineModel: a quantized model has no training state");
  if (quantized) header["quantization"] = model.quantization;
  if (model.trained_on.is_object()) header["trained_on"] = model.trained_on;
  if (training.is_object()) header["training"] = training;
  training::NamedTensors tensors = engineTensors(model, quantized);
  for (const auto& e : extra) tensors.push_back(e);
  training::writeModelFile(path, header, tensors);
}

LoadedEngineModel loadEngineModel(const std::string& path) {
  LoadedEngineModel out;
  out.file = training::readModelFile(path, kEngineModelKind, kEngineModelFormatVersion);
  const nlohmann::json& h = out.file.header;
  if (!h.contains("vocabularies") || h["vocabularies"] != vocabularies())
    throw std::runtime_error(path + ": the model's program tokens or answers differ from this build's");
  EngineModelOptions options;
  program::QuestionTokenizer tokenizer;
  vision::SceneParserOptions vision_options;
  try {
    options.scene = h.at("scene").get<std::string>();
    if (options.scene != "oracle" && options.scene != "vision")
      throw std::runtime_error("scene mode " + options.scene + " is not supported");
    if (options.scene == "vision") {
      if (h.at("vision").at("vocabularies") != vision::sceneVocabularies())
        throw std::runtime_error("the scene parser's vocabularies differ from this build's");
      vision_options = vision::SceneParserOptions::fromJson(h.at("vision").at("options"));
    }
    options.concept_mask = h.at("concept_mask").get<bool>();
    options.phrase_pointers = h.at("phrase_pointers").get<bool>();
    options.parser = program::ProgramParserOptions::fromJson(h.at("program").at("options"));
    tokenizer = program::QuestionTokenizer::fromJson(h.at("program").at("tokenizer"));
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  if (options.parser.pointer_tokens != (options.phrase_pointers ? program::kMaxPhrases : 0))
    throw std::runtime_error(path + ": the parser's pointer outputs do not match its phrase setting");
  if (tokenizer.size() != options.parser.question_vocab_size)
    throw std::runtime_error(path + ": the tokenizer has " + std::to_string(tokenizer.size()) +
                             " words but the parser expects " + std::to_string(options.parser.question_vocab_size));
  const bool quantized = h.contains("quantization");
  if (quantized) {
    if (!h["quantization"].is_object() || h["quantization"].value("scheme", "") != "W8A8")
      throw std::runtime_error(path + ": unknown quantization scheme");
    if (options.scene == "vision" && !vision_options.folded_norms)
      throw std::runtime_error(path + ": a quantized scene parser must have its norms folded");
    expandQuantizedWeights(out.file, path);
  }
  out.model = std::make_unique<EngineModel>(std::move(tokenizer), options);
  training::loadModuleTensors(out.file, path, "program", *out.model->parser);
  out.model->parser->eval();
  if (h.contains("trained_on")) {
    const nlohmann::json& t = h["trained_on"];
    if (!t.is_object() || !t.contains("seed") || !t.contains("programs") || !t.contains("qa_fraction"))
      throw std::runtime_error(path + ": trained_on: needs seed, programs and qa_fraction");
    out.model->trained_on = t;
  }
  if (options.scene == "vision") {
    out.model->vision = vision::SceneParser(vision_options);
    training::loadModuleTensors(out.file, path, "vision", *out.model->vision);
    out.model->vision->eval();
  }
  if (quantized) {
    out.model->quantization = h["quantization"];
    try {
      activateInt8(*out.model);
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
  }
  return out;
}

std::vector<AnsweredQuestion> answerWithScenes(EngineModel& model, const std::vector<std::string>& questions,
                                               const std::vector<const SceneGraph*>& scenes, int batch_size,
                                               int retry_samples) {
  if (questions.size() != scenes.size()) throw std::invalid_argument("answerWithScenes: one scene per question");
  const std::vector<program::DecodedProgram> decoded = model.parse(questions, batch_size);
  const ClevrExecutor executor;
  std::vector<AnsweredQuestion> out(questions.size());
  // A program is complete when it uses every phrase of its question (phrase chains read once per question).
  std::vector<std::vector<std::vector<int>>> chains(questions.size());
  for (size_t k = 0; k < questions.size(); ++k) chains[k] = model.phraseChains(questions[k]);
  auto complete = [&](const program::DecodedProgram& d, size_t k) {
    return !model.options.phrase_pointers ||
           program::coversPhrases(program::pointProgram(d.tokens, chains[k], numProgramTokens()), chains[k],
                                  numProgramTokens());
  };
  std::vector<size_t> retry;
  for (size_t k = 0; k < questions.size(); ++k) {
    out[k].program = decoded[k].tokens;
    const ExecutionResult r = executor.run(fromPostfix(decoded[k].tokens), *scenes[k]);
    if (r.ok) out[k].answer = r.answer;
    else out[k].error = r.error;
    if (!r.ok || !complete(decoded[k], k)) retry.push_back(k);
  }
  if (retry_samples <= 0) return out;
  for (size_t k : retry) {
    // Seeded by the question's text (FNV-1a), so its answer does not depend on the batch it came in.
    const auto sampled =
        model.parse({questions[k]}, retry_samples, retry_samples, fnv1a(questions[k]), /*temperature=*/1.0);
    // The most probable sample that runs and uses every phrase; else (the greedy one could not run) the most
    // probable that runs.
    const bool greedy_runs = out[k].error.empty();
    double best = -std::numeric_limits<double>::infinity();
    bool best_complete = false;
    for (const program::DecodedProgram& d : sampled) {
      const bool whole = complete(d, k);
      if (greedy_runs && !whole) continue;
      if (best_complete && !whole) continue;
      if (whole == best_complete && d.log_probability <= best) continue;
      const ExecutionResult r = executor.run(fromPostfix(d.tokens), *scenes[k]);
      if (!r.ok) continue;
      best = d.log_probability;
      best_complete = whole;
      out[k] = {d.tokens, r.answer, ""};
    }
  }
  return out;
}

}  // namespace vqa::model
