// Training from a few programs and question-answer pairs: warm start, then rounds of program search with the
// exact executor and learning through the SoftExecutor; atomic checkpoints with exact resume.
#include "model/qa_trainer.h"


#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

#include "core/errors.h"
#include "core/progress.h"
#include "core/typed_program.h"
#include "core/vocab.h"
#include "executor/soft_executor.h"
#include "executor/symbolic_executor.h"
#include "hopfield/threads.h"
#include "model/engine_quantization.h"
#include "model/qa_data.h"
#include "model/scene_parser_source.h"
#include "program/concepts.h"
#include "training/adamw.h"
#include "training/distributed.h"
#include "training/model_file.h"
#include "training/training_log.h"
#include "vision/trainer.h"

namespace vqa::model {

namespace {

std::vector<int> goldProgram(const QaDataset& data, int question) {
  const ClevrQuestion& q = data.questions[question];
  const std::string record = clevrQuestionLabel(static_cast<size_t>(question), q);
  if (!q.has_program) throw InputError(data.questions_path, record, "no program (needed for the warm start)");
  if (!q.program_error.empty()) throw InputError(data.questions_path, record, q.program_error);
  try {
    return toPostfix(resolveProgram(q.program));
  } catch (const std::exception& e) {
    throw InputError::in(data.questions_path, record, e);
  }
}

// The share of a group's questions (same placeholder text) a program must answer to be their pseudo-program.
constexpr double kGroupAgreement = 0.95;

// Validation: accuracy and program exact-match of greedy decoding + the exact executor.
nlohmann::json validate(EngineModel& model, const QaDataset& val, int limit) {
  const int n = std::min<int>(limit, static_cast<int>(val.questions.size()));
  std::vector<std::string> questions;
  std::vector<const SceneGraph*> scenes;
  // Spread over the split: every k-th question.
  const double stride = static_cast<double>(val.questions.size()) / std::max(1, n);
  std::vector<int> chosen;
  for (int k = 0; k < n; ++k) chosen.push_back(static_cast<int>(k * stride));
  for (int i : chosen) {
    questions.push_back(val.questions[i].question);
    scenes.push_back(&val.scenes[val.scene_of[i]]);
  }
  const std::vector<AnsweredQuestion> answers = answerWithScenes(model, questions, scenes, 128);
  int correct = 0, exact = 0, with_program = 0;
  for (size_t k = 0; k < chosen.size(); ++k) {
    const ClevrQuestion& q = val.questions[chosen[k]];
    if (answers[k].error.empty() && answers[k].answer == q.answer) ++correct;
    if (q.has_program && q.program_error.empty()) {
      ++with_program;
      try {
        if (toPostfix(resolveProgram(q.program)) == answers[k].program) ++exact;
      } catch (const std::exception&) {
      }
    }
  }
  return {{"questions", n},
          {"accuracy", n ? static_cast<double>(correct) / n : 0.0},
          {"program_exact_match", with_program ? static_cast<double>(exact) / with_program : 0.0}};
}

// A batch of (question, program) pairs for teacher forcing, with each question's scene and answer.
// `accepted` [B, T, V] marks every output that is as right as the target: a pointer at any phrase whose chain
// equals the target phrase's ("right of the cube right of the ball": either "right" expands the same), so the
// loss never pushes the parser towards one of two equal phrases; elsewhere only the target (and <pad> at
// padded steps, which the loss masks out).
struct Batch {
  at::Tensor question, inputs, targets, accepted, scene_index, answer;
};

Batch makeBatch(const std::vector<std::vector<int64_t>>& ids, const std::vector<const std::vector<int>*>& programs,
                const std::vector<const std::vector<std::vector<int>>*>& chains, int64_t outputs,
                const std::vector<int64_t>& scene_index, const std::vector<int64_t>& answer) {
  int64_t S = 1, T = 1;
  for (size_t b = 0; b < ids.size(); ++b) {
    S = std::max<int64_t>(S, ids[b].size());
    T = std::max<int64_t>(T, programs[b]->size() + 1);
  }
  const int64_t B = static_cast<int64_t>(ids.size());
  Batch batch{at::zeros({B, S}, at::kLong), at::zeros({B, T}, at::kLong), at::zeros({B, T}, at::kLong),
              at::zeros({B, T, outputs}, at::kBool), at::tensor(scene_index, at::kLong), at::tensor(answer, at::kLong)};
  auto q = batch.question.accessor<int64_t, 2>();
  auto in = batch.inputs.accessor<int64_t, 2>();
  auto out = batch.targets.accessor<int64_t, 2>();
  auto ok = batch.accepted.accessor<bool, 3>();
  const int pointer_base = numProgramTokens();
  for (int64_t b = 0; b < B; ++b) {
    for (size_t s = 0; s < ids[b].size(); ++s) q[b][s] = ids[b][s];
    const std::vector<int>& p = *programs[b];
    in[b][0] = kStartToken;
    for (size_t t = 0; t < p.size(); ++t) {
      in[b][t + 1] = p[t];
      out[b][t] = p[t];
      ok[b][t][p[t]] = true;
      const size_t phrase = static_cast<size_t>(p[t] - pointer_base);
      if (p[t] >= pointer_base && chains[b] && phrase < chains[b]->size())
        for (size_t other = 0; other < chains[b]->size(); ++other)
          if ((*chains[b])[other] == (*chains[b])[phrase] && pointer_base + static_cast<int64_t>(other) < outputs)
            ok[b][t][pointer_base + static_cast<int64_t>(other)] = true;
    }
    out[b][p.size()] = kEndToken;
    ok[b][p.size()][kEndToken] = true;
    for (int64_t t = static_cast<int64_t>(p.size()) + 1; t < T; ++t) ok[b][t][kPadToken] = true;
  }
  return batch;
}

// The pseudo-programs as a tensor [questions, max_program_tokens] (0 = none / padding), for checkpoints.
at::Tensor memoryTensor(const std::vector<std::vector<int>>& memory, int64_t width) {
  at::Tensor t = at::zeros({static_cast<int64_t>(memory.size()), width}, at::kLong);
  auto a = t.accessor<int64_t, 2>();
  for (size_t i = 0; i < memory.size(); ++i)
    for (size_t k = 0; k < memory[i].size() && static_cast<int64_t>(k) < width; ++k) a[i][k] = memory[i][k];
  return t;
}

std::vector<std::vector<int>> memoryFromTensor(const at::Tensor& t) {
  std::vector<std::vector<int>> memory(static_cast<size_t>(t.size(0)));
  auto a = t.accessor<int64_t, 2>();
  for (int64_t i = 0; i < t.size(0); ++i)
    for (int64_t k = 0; k < t.size(1) && a[i][k] != 0; ++k) memory[i].push_back(static_cast<int>(a[i][k]));
  return memory;
}

}  // namespace

void checkTrainQaOptions(const TrainQaOptions& o) {
  const auto range = training::checkOptionRange;
  range("--programs", static_cast<double>(o.programs), 0, 1e7);
  range("--qa-fraction", o.qa_fraction, 1e-6, 1.0);
  range("--warm-steps", static_cast<double>(o.warm_steps), 0, 1e8);
  range("--rounds", o.rounds, 0, 1000);
  range("--round-steps", static_cast<double>(o.round_steps), 1, 1e8);
  range("--samples", o.samples, 0, 256);
  range("--wide-samples", o.wide_samples, 0, 1024);
  range("--search-questions", static_cast<double>(o.search_questions), 0, 1e9);
  range("--temperature", o.temperature, 0.01, 100);
  range("--batch-size", o.batch_size, 1, 4096);
  range("--lr", o.learning_rate, 1e-8, 1.0);
  range("--weight-decay", o.weight_decay, 0, 1.0);
  range("--answer-loss", o.answer_loss, 0, 100);
  range("--stop-at", static_cast<double>(o.stop_at), 0, 1e9);
  range("--threads", o.threads, 1, 256);
  range("--checkpoint-seconds", o.checkpoint_seconds, 1, 1e6);
  range("--log-seconds", o.log_seconds, 0, 1e9);
  range("--val-questions", o.val_questions, 0, 1e7);
  range("--model-size", static_cast<double>(o.model.parser.model_size), 8, 4096);
  range("--heads", static_cast<double>(o.model.parser.num_heads), 1, 64);
  range("--layers", static_cast<double>(o.model.parser.encoder_layers), 1, 24);
  range("--dropout", o.model.parser.dropout, 0, 0.9);
  if (o.model.parser.model_size % o.model.parser.num_heads != 0)
    throw std::runtime_error("--model-size: must be a multiple of --heads");
  if (o.model.scene != "oracle" && o.model.scene != "vision")
    throw std::runtime_error("--scene: oracle (ground-truth scenes) or vision (the model's scene parser)");
  if (o.model.scene != "vision" && !o.vision_path.empty()) throw std::runtime_error("--vision: needs --scene vision");
  range("--vision-steps", static_cast<double>(o.vision_steps), 1, 1e8);
  if (o.programs == 0 && o.rounds == 0) throw std::runtime_error("--programs 0 --rounds 0: nothing to learn from");
  if (o.answer_loss > 0 && o.model.phrase_pointers)
    throw std::runtime_error("--answer-loss: needs --no-phrase-pointers (the soft executor runs module tokens, and "
                             "phrase pointers are not)");
}

namespace {
// Every process decoded the programs of some questions (`mine`: `per_question` each, the other questions' slots
// empty); afterwards each process holds every question's programs. The slots of a question are filled by one process only, so sums are copies.
void shareDecoded(training::DataParallel& group, std::vector<std::vector<program::DecodedProgram>>& decoded,
                  const std::vector<bool>& mine, int64_t per_question) {
  if (group.world() == 1) return;
  const int64_t questions = static_cast<int64_t>(decoded.size());
  at::Tensor lengths = at::zeros({questions, per_question}, at::kLong);
  at::Tensor log_p = at::zeros({questions, per_question}, at::kDouble);
  auto length_of = lengths.accessor<int64_t, 2>();
  auto log_p_of = log_p.accessor<double, 2>();
  for (int64_t q = 0; q < questions; ++q)
    for (int64_t k = 0; mine[q] && k < per_question; ++k) {
      length_of[q][k] = static_cast<int64_t>(decoded[q][k].steps.size());
      log_p_of[q][k] = decoded[q][k].log_probability;
    }
  group.sumInPlace(lengths);
  group.sumInPlace(log_p);
  const int64_t longest = questions ? std::max<int64_t>(1, lengths.max().item<int64_t>()) : 1;
  at::Tensor steps = at::zeros({questions, per_question, longest}, at::kInt);
  auto step_of = steps.accessor<int, 3>();
  for (int64_t q = 0; q < questions; ++q)
    for (int64_t k = 0; mine[q] && k < per_question; ++k)
      for (size_t t = 0; t < decoded[q][k].steps.size(); ++t) step_of[q][k][static_cast<int64_t>(t)] = decoded[q][k].steps[t];
  group.sumInPlace(steps);
  for (int64_t q = 0; q < questions; ++q) {
    if (mine[q]) continue;
    decoded[q].assign(static_cast<size_t>(per_question), program::DecodedProgram());
    for (int64_t k = 0; k < per_question; ++k) {
      program::DecodedProgram& d = decoded[q][k];
      d.log_probability = log_p_of[q][k];
      for (int64_t t = 0; t < length_of[q][k]; ++t) d.steps.push_back(step_of[q][k][t]);
    }
  }
}

// The scene parser of a --scene vision model: from --vision, or trained here on the data's annotations.
vision::SceneParser sceneParserFor(const TrainQaOptions& o, std::ostream& log) {
  std::string path = o.vision_path;
  if (path.empty()) {
    vision::TrainVisionOptions v;
    v.data_dir = o.data_dir;
    v.split = o.split;
    v.val_split = o.val_split;
    v.out_path = o.out_path + ".vision.bin";
    v.steps = o.vision_steps;
    v.seed = o.seed;
    v.threads = o.threads;
    v.resume = true;  // a finished or partial scene parser training continues, never restarts
    vision::checkTrainVisionOptions(v);
    log << "train: the scene parser first (" << v.steps << " steps on " << o.data_dir << "/images/" << o.split
        << "), kept at " << v.out_path << "\n";
    vision::trainSceneParser(v, log);
    path = v.out_path;
  }
  const SceneParserSource loaded = loadSceneParserOrEngine(path);
  if (loaded.engine) requireFloatModel(*loaded.engine, path);
  log << "train: scene parser " << path << (loaded.engine ? " (the one inside that engine)" : "") << " (" << loaded.parser->options().toJson().dump() << ")\n";
  return loaded.parser;
}

// EngineModel::trained_on for a program run of these settings.
nlohmann::json selectionRecord(const std::string& split, uint64_t seed, int64_t programs, double qa_fraction) {
  return {{"split", split}, {"seed", seed}, {"programs", programs}, {"qa_fraction", qa_fraction}};
}
}  // namespace

void joinSceneParser(const TrainQaOptions& o, const std::string& programs_from, std::ostream& log) {
  if (o.model.scene != "vision") throw std::runtime_error("--programs-from: needs --scene vision");
  LoadedEngineModel loaded = loadEngineModel(programs_from);
  requireFloatModel(*loaded.model, programs_from);
  // An engine that reads images gives its programs too: its scene parser is replaced (fine-tuning from answers
  // moves only the parser, so its programs are still those of the program model it was joined from).
  const bool replaces_parser = loaded.model->options.scene == "vision";
  hopfield::set_compute_threads(o.threads);
  EngineModel& m = *loaded.model;
  const nlohmann::json t = loaded.file.header.value("training", nlohmann::json());
  if (m.trained_on.is_null() && t.is_object() && t.contains("qa_fraction"))  // a program model that predates the record
    m.trained_on = selectionRecord(t.value("split", "train"), t.at("seed").get<uint64_t>(),
                                   t.at("programs").get<int64_t>(), t.at("qa_fraction").get<double>());
  m.options.scene = "vision";
  m.vision = sceneParserFor(o, log);
  saveEngineModel(o.out_path, m);
  log << "train: " << o.out_path << " = the programs of " << programs_from
      << (replaces_parser ? " + that scene parser in place of its own\n" : " + that scene parser\n");
}

TrainQaResult trainQaModel(const TrainQaOptions& options, std::ostream& progress_log) {
  TrainQaOptions o = options;
  checkTrainQaOptions(o);
  if (o.log_path.empty()) o.log_path = o.out_path + ".metrics.jsonl";
  if (o.curves_path.empty()) o.curves_path = o.out_path + ".curves.png";
  training::DataParallel group(o.distributed);
  group.checkBatch(o.batch_size);
  std::ostream& log = group.leaderLog(progress_log);
  hopfield::set_compute_threads(o.threads);
  const bool terminal = group.leader() && &progress_log == &std::cerr && isatty(fileno(stderr));
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed_before = 0;  // training seconds of the earlier processes of a resumed run
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto run_seconds = [&] { return elapsed_before + elapsed(); };

  // Resuming: the run's own settings come from the checkpoint, so the same run continues.
  training::ModelFile resumed;
  std::unique_ptr<EngineModel> model;
  int64_t start = 0;
  int searched = 0;  // rounds whose search is done
  if (o.resume && std::filesystem::exists(o.out_path)) {
    LoadedEngineModel loaded = loadEngineModel(o.out_path);
    requireFloatModel(*loaded.model, o.out_path);
    const nlohmann::json t = loaded.file.header.value("training", nlohmann::json());
    if (!t.is_object()) throw std::runtime_error(o.out_path + ": holds no training state to resume (a final model?)");
    try {
      start = t.at("step").get<int64_t>();
      searched = t.at("searched_rounds").get<int>();
      elapsed_before = t.at("elapsed_seconds").get<double>();
      o.split = t.at("split").get<std::string>();
      o.programs = t.at("programs").get<int64_t>();
      o.qa_fraction = t.at("qa_fraction").get<double>();
      o.warm_steps = t.at("warm_steps").get<int64_t>();
      o.rounds = t.at("rounds").get<int>();
      o.round_steps = t.at("round_steps").get<int64_t>();
      o.samples = t.at("samples").get<int>();
      o.wide_samples = t.value("wide_samples", 0);  // runs before the wide pass existed had none
      o.search_questions = t.at("search_questions").get<int64_t>();
      o.temperature = t.at("temperature").get<double>();
      o.batch_size = t.at("batch_size").get<int>();
      o.learning_rate = t.at("learning_rate").get<double>();
      o.weight_decay = t.at("weight_decay").get<double>();
      o.answer_loss = t.at("answer_loss").get<double>();
      o.seed = t.at("seed").get<uint64_t>();
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(o.out_path + ": training state: " + e.what());
    }
    model = std::move(loaded.model);
    resumed = std::move(loaded.file);
  }

  QaDataset data = openQaDataset(o.data_dir, o.split);
  if (data.questions.empty()) throw std::runtime_error(data.questions_path + ": no questions to train on");
  QaDataset val;
  const bool validating =
      o.val_questions > 0 && std::filesystem::exists(o.data_dir + "/questions/CLEVR_" + o.val_split + "_questions.json");
  if (validating) val = openQaDataset(o.data_dir, o.val_split);
  const QuestionSelection sel = selectQuestions(data, o.seed, o.programs, o.qa_fraction);
  std::vector<std::vector<int>> gold(sel.warm.size());
  for (size_t k = 0; k < sel.warm.size(); ++k) gold[k] = goldProgram(data, sel.warm[k]);

  if (!model) {
    std::vector<std::string> texts;
    for (int i : sel.warm) texts.push_back(parserText(o.model, data.questions[i].question));
    for (int i : sel.qa) texts.push_back(parserText(o.model, data.questions[i].question));
    at::manual_seed(o.seed);
    model = std::make_unique<EngineModel>(program::QuestionTokenizer::build(texts), o.model);
  }
  EngineModel& m = *model;
  m.trained_on = selectionRecord(o.split, o.seed, o.programs, o.qa_fraction);
  if (m.options.scene == "vision" && !m.vision) {
    if (group.world() > 1 && o.vision_path.empty())
      throw std::runtime_error("--scene vision over several processes: train the scene parser first (vqa train-vision) "
                               "and give it with --vision");
    m.vision = sceneParserFor(o, log);
  }
  const int64_t max_program = m.options.parser.max_program_tokens;
  std::vector<std::vector<int>> gold_targets(gold.size());  // as the parser writes them
  for (size_t k = 0; k < gold.size(); ++k) {
    gold_targets[k] = m.parserTargets(data.questions[sel.warm[k]].question, gold[k]);
    if (static_cast<int64_t>(gold_targets[k].size()) + 1 > max_program)
      throw InputError(data.questions_path, clevrQuestionLabel(sel.warm[k], data.questions[sel.warm[k]]),
                       "program of " + std::to_string(gold_targets[k].size()) +
                           " steps is longer than the model allows");
  }

  // Every used question's encoder ids, concept mask, scene and answer.
  std::vector<int> used = sel.warm;
  used.insert(used.end(), sel.qa.begin(), sel.qa.end());
  std::vector<std::vector<int64_t>> ids(used.size());
  std::vector<std::vector<std::vector<int>>> chains_of(used.size());  // each question's phrase chains
  std::vector<int64_t> scene_of(used.size()), answer_of(used.size());
  for (size_t k = 0; k < used.size(); ++k) {
    const ClevrQuestion& q = data.questions[used[k]];
    ids[k] = m.encode(q.question);
    chains_of[k] = m.phraseChains(q.question);
    scene_of[k] = data.scene_of[used[k]];
    answer_of[k] = clevr::answerIndex(q.answer);
    if (answer_of[k] < 0)
      throw InputError(data.questions_path, clevrQuestionLabel(used[k], q), "answer " + quotedValue(q.answer) +
                                                                                 " is not one of CLEVR's answers");
  }
  const size_t warm_count = sel.warm.size();
  std::vector<std::string> parser_texts(sel.qa.size());  // how the parser reads each QA question
  for (size_t k = 0; k < sel.qa.size(); ++k) parser_texts[k] = parserText(m.options, data.questions[sel.qa[k]].question);
  std::vector<std::vector<int>> memory(sel.qa.size());  // pseudo-programs of the QA questions, as decoded
  if (resumed.header.is_object()) {
    const at::Tensor* saved = resumed.find("memory");
    if (!saved || saved->dim() != 2 || saved->size(0) != static_cast<int64_t>(memory.size()))
      throw std::runtime_error(o.out_path + ": its pseudo-programs do not match the split's questions (the data changed?)");
    memory = memoryFromTensor(*saved);
  }

  const int64_t warm_total = o.programs > 0 ? o.warm_steps : 0;
  const int64_t total = warm_total + static_cast<int64_t>(o.rounds) * o.round_steps;
  m.parser->train();
  group.broadcastModule(*m.parser);  // every process starts from rank 0's weights
  training::AdamW optimizer(*m.parser, o.weight_decay, 0.9, 0.98);
  if (resumed.header.is_object()) optimizer.load(resumed, start);
  const SoftScene scenes = SoftScene::fromSceneGraph(data.scenes);
  const SoftExecutor executor;

  std::vector<nlohmann::json> history;
  std::ofstream metrics;
  if (group.leader()) {
    history = training::trimLog(o.log_path, start);
    metrics.open(o.log_path, std::ios::app);
  }
  auto record = [&](nlohmann::json j) {
    if (!group.leader()) return;
    metrics << j.dump() << "\n" << std::flush;
    history.push_back(std::move(j));
  };
  auto say = [&](const std::string& line) { log << (terminal ? "\r\033[K" : "") << line << "\n" << std::flush; };
  auto checkpoint = [&](int64_t step) {
    if (!group.leader()) return;
    nlohmann::json t = {{"step", step}, {"total_steps", total}, {"searched_rounds", searched}, {"split", o.split},
                        {"elapsed_seconds", run_seconds()},
                        {"programs", o.programs}, {"qa_fraction", o.qa_fraction}, {"warm_steps", o.warm_steps},
                        {"rounds", o.rounds}, {"round_steps", o.round_steps}, {"samples", o.samples},
                        {"wide_samples", o.wide_samples}, {"search_questions", o.search_questions},
                        {"temperature", o.temperature}, {"batch_size", o.batch_size},
                        {"learning_rate", o.learning_rate}, {"weight_decay", o.weight_decay},
                        {"answer_loss", o.answer_loss}, {"seed", o.seed}, {"qa_pairs", sel.qa.size()},
                        {"train_questions", data.questions.size()}};
    training::NamedTensors extra = optimizer.state();
    extra.emplace_back("memory", memoryTensor(memory, max_program));
    saveEngineModel(o.out_path, m, t, extra);
  };
  auto drawCurves = [&] {
    if (!group.leader()) return;
    training::CurveSeries loss{"blue: log10 loss", {}, 0, 1, true, 200, 80, 0};
    training::CurveSeries acc{"red: val accuracy", {}, 0, 1, false, 0, 0, 200};
    training::CurveSeries exact{"green: val program exact-match", {}, 0, 1, false, 0, 150, 0};
    training::CurveSeries found{"grey: questions with a pseudo-program", {}, 0, 1, false, 120, 120, 120};
    for (const auto& j : history) {
      const double step = j.value("step", 0.0);
      if (j.contains("loss")) loss.points.emplace_back(step, std::log10(std::max(1e-5, j["loss"].get<double>())));
      if (j.contains("val")) {
        acc.points.emplace_back(step, j["val"]["accuracy"].get<double>());
        exact.points.emplace_back(step, j["val"]["program_exact_match"].get<double>());
      }
      if (j.contains("search")) found.points.emplace_back(step, j["search"]["with_program"].get<double>());
    }
    training::drawCurves(o.curves_path, {loss, acc, exact, found});
  };
  TrainQaResult result;
  result.start_step = start;
  auto runValidation = [&](int64_t step, const char* when) {
    if (!validating || !group.leader()) return;
    nlohmann::json v = validate(m, val, o.val_questions);
    m.parser->train();
    result.last_validation = v;
    record({{"step", step}, {"val", v}, {"elapsed_seconds", run_seconds()}});
    char line[200];
    std::snprintf(line, sizeof line, "train: step %lld %s: val accuracy %.4f, program exact-match %.4f (%d questions)",
                  static_cast<long long>(step), when, v["accuracy"].get<double>(),
                  v["program_exact_match"].get<double>(), v["questions"].get<int>());
    say(line);
  };

  // Search: sampled and greedy programs run with the exact executor on the QA questions; a program that gives
  // the gold answer becomes the question's pseudo-program.
  auto search = [&](int round, int64_t step) {
    const auto s0 = std::chrono::steady_clock::now();
    const ClevrExecutor exact;
    int64_t found_now = 0, greedy_right = 0;
    const int64_t K = o.samples;
    // This round's questions: all, or the round's slice of a seeded order (so rounds cover different ones).
    std::vector<size_t> order(sel.qa.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    size_t count = order.size();
    if (o.search_questions > 0 && static_cast<size_t>(o.search_questions) < order.size()) {
      std::mt19937_64 shuffle_random(o.seed * 0xD1B54A32D192ED03ull + 5);
      std::shuffle(order.begin(), order.end(), shuffle_random);
      count = static_cast<size_t>(o.search_questions);
      std::rotate(order.begin(), order.begin() + static_cast<long>((round * count) % order.size()), order.end());
    }
    // Questions that read the same (phrases as placeholders) have the same program in pointer form, so the
    // search decodes per group, not per question: greedy + K sampled programs of up to 4 of its questions.
    // Every candidate (and every member's pseudo-program of the last round) is run on every question of the
    // group; a candidate counts only where it uses all the question's phrases (see `complete`) and only if it
    // answers at least kGroupAgreement of the group. Each question takes the candidate that answers the most
    // of the group among those that answer it (then the more probable); a question with none has no
    // pseudo-program this round.
    std::map<std::string, std::vector<size_t>> by_text;
    for (size_t n = 0; n < count; ++n) by_text[parser_texts[order[n]]].push_back(n);
    std::vector<const std::vector<size_t>*> groups;
    for (const auto& [text, members] : by_text) groups.push_back(&members);
    const size_t kDecodedPerGroup = 4;
    struct Candidate {
      std::vector<int> steps;
      double log_probability;
      bool greedy_of_first;  // the greedy program of the group's first question
    };
    std::vector<std::vector<Candidate>> candidates(groups.size());
    std::vector<std::set<std::vector<int>>> seen(groups.size());
    auto answers = [&](const std::vector<int>& steps, size_t k) {  // does this program answer QA question k?
      const ClevrQuestion& q = data.questions[sel.qa[k]];
      try {
        const std::vector<int> tokens = program::expandProgram(steps, chains_of[warm_count + k], numProgramTokens());
        const ExecutionResult r = exact.run(fromPostfix(tokens), data.scenes[data.scene_of[sel.qa[k]]]);
        return r.ok && r.answer == q.answer;
      } catch (const std::exception&) {
        return false;  // a pointer past this question's phrases, or a program that does not type-check
      }
    };
    // A pseudo-program must use every phrase of its question (program/concepts.h: coversPhrases), so one that
    // skips a hop and gives the right answer by luck is never learnt.
    auto complete = [&](const std::vector<int>& steps, size_t k) {
      return !m.options.phrase_pointers || program::coversPhrases(steps, chains_of[warm_count + k], numProgramTokens());
    };
    // Decodes greedy + `samples` programs of up to kDecodedPerGroup questions of each group in `which` and adds
    // the new ones to the groups' candidates. Returns the number of questions decoded.
    auto decode = [&](const std::vector<size_t>& which, int64_t samples, uint64_t seed, Progress* progress) {
      std::vector<size_t> questions, group_of;  // questions: indices into order
      for (size_t g : which)
        for (size_t r = 0; r < std::min(kDecodedPerGroup, groups[g]->size()); ++r) {
          questions.push_back((*groups[g])[r]);
          group_of.push_back(g);
        }
      // Fewer questions per chunk when each brings many samples, so a chunk's programs stay a bounded batch.
      // Over several processes each decodes every world-th chunk (a chunk's sampling seed is its own), then all
      // share the programs, so every process considers the same candidates as one process would.
      const size_t chunk = std::max<size_t>(1, 2304 / static_cast<size_t>(1 + samples));
      std::vector<std::vector<program::DecodedProgram>> decoded(questions.size());  // greedy, then the samples
      std::vector<bool> mine(questions.size(), false);
      for (size_t start_q = 0, c = 0; start_q < questions.size(); start_q += chunk, ++c) {
        if (static_cast<int>(c % static_cast<size_t>(group.world())) != group.rank()) continue;
        const size_t end_q = std::min(questions.size(), start_q + chunk);
        if (progress) progress->set(static_cast<int64_t>(static_cast<double>(start_q) / questions.size() * count));
        std::vector<std::string> texts;
        for (size_t k = start_q; k < end_q; ++k) texts.push_back(data.questions[sel.qa[order[questions[k]]]].question);
        auto greedy = m.parse(texts, 128);
        std::vector<program::DecodedProgram> sampled;
        if (samples > 0) sampled = m.parse(texts, 128, samples, seed + start_q, o.temperature);
        for (size_t n = start_q; n < end_q; ++n) {
          const size_t local = n - start_q;
          mine[n] = true;
          decoded[n].push_back(std::move(greedy[local]));
          for (int64_t s = 0; s < samples; ++s)
            decoded[n].push_back(std::move(sampled[local * static_cast<size_t>(samples) + s]));
        }
      }
      shareDecoded(group, decoded, mine, 1 + samples);
      for (size_t n = 0; n < questions.size(); ++n) {
        const size_t g = group_of[n];
        const bool first = n == 0 || group_of[n - 1] != g;
        for (size_t k = 0; k < decoded[n].size(); ++k) {
          const program::DecodedProgram& d = decoded[n][k];
          if (seen[g].insert(d.steps).second) candidates[g].push_back({d.steps, d.log_probability, k == 0 && first});
        }
      }
      return questions.size();
    };
    // Gives each member of group g its pseudo-program (or none) from the group's candidates; returns
    // {members given one, members the group's first greedy program answers}.
    auto assign = [&](size_t g) {
      const std::vector<size_t>& members = *groups[g];
      // The members' pseudo-programs of earlier rounds compete again, so a right program found once is not
      // lost to a round whose samples missed it.
      for (size_t member : members) {
        const std::vector<int>& kept = memory[order[member]];
        if (!kept.empty() && seen[g].insert(kept).second)
          candidates[g].push_back({kept, -std::numeric_limits<double>::infinity(), false});
      }
      // right[c][i]: candidate c answers member i.
      std::vector<std::vector<bool>> right(candidates[g].size(), std::vector<bool>(members.size()));
      std::vector<int> votes(candidates[g].size(), 0);
      int64_t greedy = 0, found = 0;
      for (size_t c = 0; c < candidates[g].size(); ++c)
        for (size_t i = 0; i < members.size(); ++i) {
          right[c][i] = complete(candidates[g][c].steps, order[members[i]]) &&
                        answers(candidates[g][c].steps, order[members[i]]);
          votes[c] += right[c][i];
          if (right[c][i] && candidates[g][c].greedy_of_first) ++greedy;
        }
      auto better = [&](size_t a, size_t b) {  // more questions answered, then more probable
        return votes[a] != votes[b] ? votes[a] > votes[b]
                                    : candidates[g][a].log_probability > candidates[g][b].log_probability;
      };
      // The right program answers every question of its group (each was generated with it); one that fails
      // on more than 5% of them is right by chance where it is right (a yes/no or two-valued answer is right
      // half the time), so it is no pseudo-program for any of them.
      const int needed = static_cast<int>(std::ceil(kGroupAgreement * static_cast<double>(members.size()) - 1e-9));
      for (size_t i = 0; i < members.size(); ++i) {
        size_t best = candidates[g].size();
        for (size_t c = 0; c < candidates[g].size(); ++c)
          if (right[c][i] && votes[c] >= needed && (best == candidates[g].size() || better(c, best))) best = c;
        std::vector<int>& kept = memory[order[members[i]]];
        if (best == candidates[g].size()) {
          kept.clear();
          continue;
        }
        kept = candidates[g][best].steps;
        ++found;
      }
      return std::pair<int64_t, int64_t>{found, greedy};
    };
    Progress progress("train: round " + std::to_string(round + 1) + " search", static_cast<int64_t>(count),
                      "questions", &log);
    std::vector<size_t> all_groups(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) all_groups[g] = g;
    const uint64_t seed = o.seed * 1000003ull + static_cast<uint64_t>(round) * 7919ull;
    const size_t decoded = decode(all_groups, K, seed, &progress);
    progress.finish();
    // Over several processes each assigns every world-th group (assign reads and writes only its group's
    // candidates and pseudo-programs); the counts are summed and the pseudo-programs shared afterwards.
    auto owns = [&](size_t g) { return static_cast<int>(g % static_cast<size_t>(group.world())) == group.rank(); };
    std::vector<int64_t> found_in(groups.size());
    auto shareFound = [&] {  // each group's count from its owner
      std::vector<int64_t> mine(groups.size(), 0);
      for (size_t g = 0; g < groups.size(); ++g)
        if (owns(g)) mine[g] = found_in[g];
      at::Tensor t = at::from_blob(mine.data(), {static_cast<int64_t>(mine.size())}, at::kLong);
      group.sumInPlace(t);  // in place, into `mine`
      found_in = mine;
    };
    for (size_t g = 0; g < groups.size(); ++g) {
      if (!owns(g)) continue;
      const auto [found, greedy] = assign(g);
      found_in[g] = found;
      greedy_right += greedy;
    }
    if (group.world() > 1) {
      shareFound();
      greedy_right = static_cast<int64_t>(std::llround(group.sum(static_cast<double>(greedy_right))));
    }
    std::vector<size_t> short_groups;  // groups where some question has no pseudo-program
    for (size_t g = 0; g < groups.size(); ++g)
      if (found_in[g] < static_cast<int64_t>(groups[g]->size())) short_groups.push_back(g);
    // The wide pass: the groups left short are sampled again, many more programs per question (their right
    // program is rarely one the model already prefers: a phrasing it has not learnt yet).
    size_t wide_decoded = 0;
    if (o.wide_samples > 0 && !short_groups.empty()) {
      wide_decoded = decode(short_groups, o.wide_samples, seed ^ 0x9E3779B97F4A7C15ull, nullptr);
      for (size_t g : short_groups)
        if (owns(g)) found_in[g] = assign(g).first;
      if (group.world() > 1) shareFound();
    }
    if (group.world() > 1) {
      // Each question's pseudo-program from the owner of its group; the questions outside this round's search
      // are alike everywhere and come from rank 0.
      std::vector<bool> from_me(memory.size(), group.leader());
      for (size_t g = 0; g < groups.size(); ++g)
        for (size_t member : *groups[g]) from_me[order[member]] = owns(g);
      std::vector<std::vector<int>> mine(memory.size());
      for (size_t k = 0; k < memory.size(); ++k)
        if (from_me[k]) mine[k] = memory[k];
      at::Tensor shared = memoryTensor(mine, max_program);
      group.sumInPlace(shared);
      memory = memoryFromTensor(shared);
    }
    for (int64_t f : found_in) found_now += f;
    int64_t with_program = 0;
    for (const auto& p : memory) with_program += p.empty() ? 0 : 1;
    const double n = static_cast<double>(std::max<size_t>(1, count));
    const double all = static_cast<double>(std::max<size_t>(1, sel.qa.size()));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    record({{"step", step},
            {"elapsed_seconds", run_seconds()},
            {"search", {{"round", round + 1}, {"found", found_now / n}, {"greedy_right", greedy_right / n},
                        {"searched", count}, {"groups", groups.size()}, {"decoded", decoded},
                        {"short_groups", short_groups.size()}, {"wide_decoded", wide_decoded},
                        {"with_program", with_program / all}, {"seconds", seconds}}}});
    char line[400];
    std::snprintf(line, sizeof line,
                  "train: round %d/%d search: %zu questions in %zu groups, %zu decoded x (greedy + %d samples), "
                  "%zu groups short, %zu decoded again x %d: group's greedy answers right %.2f%%, a consistent "
                  "program for %.2f%% (%.2f%% hold one), %.0f s",
                  round + 1, o.rounds, count, groups.size(), decoded, o.samples, short_groups.size(), wide_decoded,
                  o.wide_samples, 100 * greedy_right / n, 100 * found_now / n, 100 * with_program / all, seconds);
    say(line);
  };

  const double questions_per_step = o.batch_size;
  double last_log = 0, last_checkpoint = 0, sum_loss = 0, sum_program = 0, sum_answer = 0;
  int64_t window = 0, skipped_steps = 0;
  if (start == 0 && warm_total == 0 && validating) runValidation(0, "(untrained)");
  for (int64_t step = start; step < total; ++step) {
    const bool in_warm = step < warm_total;
    const int round = in_warm ? -1 : static_cast<int>((step - warm_total) / o.round_steps);
    if (!in_warm && step == warm_total + round * o.round_steps && searched <= round) {
      search(round, step);
      searched = round + 1;
      checkpoint(step);
      last_checkpoint = elapsed();
    }
    // The pool: supervised programs, and (after the warm start) every pseudo-program found so far.
    std::vector<size_t> pool;
    for (size_t k = 0; k < warm_count; ++k) pool.push_back(k);
    if (!in_warm)
      for (size_t k = 0; k < memory.size(); ++k)
        if (!memory[k].empty()) pool.push_back(warm_count + k);
    if (pool.empty()) continue;  // --programs 0 and a search that found nothing: nothing to learn this round
    std::mt19937_64 random(o.seed * 6364136223846793005ull + static_cast<uint64_t>(step));
    std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
    std::vector<std::vector<int64_t>> batch_ids;
    std::vector<const std::vector<int>*> programs;
    std::vector<const std::vector<std::vector<int>>*> batch_chains;
    std::vector<int64_t> batch_scenes, batch_answers;
    std::vector<std::vector<int>> targets(static_cast<size_t>(o.batch_size));
    std::vector<size_t> drawn(static_cast<size_t>(o.batch_size));
    for (size_t& k : drawn) k = pool[pick(random)];
    // This process's share of the global batch; the losses are the global batch's (summed over the processes).
    const auto [first, end] = group.share(drawn.size());
    for (size_t b = first; b < end; ++b) {
      const size_t k = drawn[b];
      targets[b] = k < warm_count ? gold_targets[k] : memory[k - warm_count];
      batch_ids.push_back(ids[k]);
      programs.push_back(&targets[b]);
      batch_chains.push_back(&chains_of[k]);
      batch_scenes.push_back(scene_of[k]);
      batch_answers.push_back(answer_of[k]);
    }
    const Batch batch = makeBatch(batch_ids, programs, batch_chains, numProgramTokens() + m.options.parser.pointer_tokens,
                                  batch_scenes, batch_answers);
    at::manual_seed(o.seed * 2862933555777941757ull + static_cast<uint64_t>(step));  // dropout masks, per step
    const at::Tensor logits = m.parser->forward(batch.question, batch.inputs);  // [B, T, K]
    // -log of the probability of the accepted outputs, averaged over the steps that are not padding.
    const at::Tensor log_p = at::log_softmax(logits, -1).masked_fill(batch.accepted.logical_not(), -1e9);
    const at::Tensor running = batch.targets.ne(kPadToken).to(logits.scalar_type());
    const double counted = group.sum(running.sum().item<double>());
    const at::Tensor program_loss = -(at::logsumexp(log_p, -1) * running).sum() / std::max(1.0, counted);
    at::Tensor loss = program_loss;
    at::Tensor answer_loss = at::zeros({}, logits.options());
    if (o.answer_loss > 0) {
      // The soft program: the parser's distributions where the program runs, <pad> after its <end>.
      const at::Tensor step_runs = running.unsqueeze(-1);
      const at::Tensor pad = at::zeros_like(logits).index_fill_(-1, at::tensor({int64_t{kPadToken}}), 1.0);
      const at::Tensor tokens = at::softmax(logits, -1) * step_runs + pad * (1 - step_runs);
      const SoftExecution r = executor.run(tokens, selectScenes(scenes, batch.scene_index));
      const at::Tensor p = r.answer.gather(1, batch.answer.unsqueeze(1)).squeeze(1);
      answer_loss = -at::log(p.clamp_min(1e-6)).sum() / static_cast<double>(o.batch_size);
      loss = loss + o.answer_loss * answer_loss;
    }
    optimizer.zeroGrad();
    loss.backward();
    group.sumGradients(*m.parser);
    const double lr = training::warmupCosine(o.learning_rate, step, total, std::min<int64_t>(100, total / 10), 0.05);
    if (!std::isfinite(optimizer.step(lr, 1.0))) ++skipped_steps;
    const double value = group.sum(loss.item<double>());
    if (!std::isfinite(value))
      throw std::runtime_error("train: the loss became " + std::to_string(value) + " at step " + std::to_string(step) +
                               " (try a lower --lr)");
    sum_loss += value;
    sum_program += group.sum(program_loss.item<double>());
    sum_answer += group.sum(answer_loss.item<double>());
    ++window;

    const int64_t done = step + 1;
    const double now = elapsed();
    if (now - last_log >= o.log_seconds || done == total) {
      const double rate = (done - start) * questions_per_step / std::max(1e-9, now);
      const double eta = (total - done) * questions_per_step / std::max(1e-9, rate);
      record({{"step", done}, {"loss", sum_loss / window}, {"program_loss", sum_program / window},
              {"answer_loss", sum_answer / window}, {"lr", lr}, {"questions_per_second", rate},
              {"elapsed_seconds", elapsed_before + now}, {"pool", pool.size()},
              {"skipped_steps", skipped_steps}});
      char line[240];
      std::snprintf(line, sizeof line,
                    "train: step %lld/%lld %s  loss %.4f (program %.4f answer %.4f)  %.0f questions/s  ETA %s",
                    static_cast<long long>(done), static_cast<long long>(total),
                    in_warm ? "warm start" : ("round " + std::to_string(round + 1)).c_str(), sum_loss / window,
                    sum_program / window, sum_answer / window, rate, training::formatSeconds(eta).c_str());
      if (terminal) log << "\r\033[K" << line << std::flush;
      else log << line << "\n" << std::flush;
      sum_loss = sum_program = sum_answer = 0;
      window = 0;
      last_log = now;
    }
    const bool phase_end = done == warm_total || (done > warm_total && (done - warm_total) % o.round_steps == 0);
    if (phase_end) runValidation(done, done == warm_total ? "after the warm start" : "after a round");
    const bool stopping = o.stop_at > 0 && done >= o.stop_at && done < total;
    if (now - last_checkpoint >= o.checkpoint_seconds || done == total || stopping || phase_end) {
      checkpoint(done);
      drawCurves();
      last_checkpoint = elapsed();
    }
    if (stopping) {
      result.steps = done;
      result.seconds = elapsed();
      return result;
    }
  }
  if (start >= total || total == 0) checkpoint(total);
  drawCurves();
  result.steps = total;
  result.seconds = elapsed();
  return result;
}

}  // namespace vqa::model
