// The GQA engine's training loop, model file and evaluation (see gqa_model.h).
#include "model/gqa_model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <fstream>
#include <random>
#include <stdexcept>

#include "core/errors.h"
#include "datasets/gqa/gqa_metrics.h"
#include "executor/gqa_soft_executor.h"
#include "executor/gqa_soft_scene.h"
#include "hopfield/threads.h"
#include "training/adamw.h"
#include "training/model_file.h"
#include "training/training_log.h"

namespace vqa::model {

const char* const kGqaModelKind = "vqa-gqa-program-model";

namespace {

using program::GqaProgramExample;

// The file's images, shuffled by `seed`; the first round(share x n) are held out.
std::set<std::string> heldOutImages(const std::vector<GqaQuestion>& questions, double share, uint64_t seed) {
  std::set<std::string> unique;
  for (const auto& q : questions) unique.insert(q.image_id);
  std::vector<std::string> images(unique.begin(), unique.end());
  std::mt19937_64 random(seed);
  std::shuffle(images.begin(), images.end(), random);
  const size_t n = static_cast<size_t>(std::llround(share * static_cast<double>(images.size())));
  return {images.begin(), images.begin() + static_cast<std::ptrdiff_t>(std::min(n, images.size()))};
}

nlohmann::json lexiconJson(const GqaLexicon& lexicon) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [type, values] : lexicon.types()) j[type] = values;
  return j;
}

GqaLexicon lexiconFromJson(const nlohmann::json& j) {
  if (!j.is_object()) throw std::runtime_error("the lexicon is not an object");
  GqaLexicon lexicon;
  for (const auto& [type, values] : j.items()) {
    if (!values.is_array()) throw std::runtime_error("lexicon type '" + type + "' is not a list");
    for (const auto& v : values) lexicon.add(type, v.get<std::string>());
  }
  return lexicon;
}

nlohmann::json modelHeader(const GqaModel& m) {
  return {{"kind", kGqaModelKind},
          {"format_version", kGqaModelVersion},
          {"options", m.parser->options().toJson()},
          {"tokenizer", m.tokenizer.toJson()},
          {"program_vocabulary", m.vocabulary.toJson()},
          {"lexicon", lexiconJson(m.lexicon)},
          {"heldout_images", m.heldout_images},
          {"training", m.training}};
}

struct LoadedFile {
  std::unique_ptr<GqaModel> model;
  training::ModelFile file;
};

LoadedFile readGqaModelFile(const std::string& path) {
  LoadedFile out;
  out.file = training::readModelFile(path, kGqaModelKind, kGqaModelVersion);
  const nlohmann::json& h = out.file.header;
  auto m = std::make_unique<GqaModel>();
  try {
    const auto options = program::ProgramParserOptions::fromJson(h.at("options"));
    m->tokenizer = program::QuestionTokenizer::fromJson(h.at("tokenizer"));
    m->vocabulary = program::GqaProgramVocabulary::fromJson(h.at("program_vocabulary"));
    m->lexicon = lexiconFromJson(h.at("lexicon"));
    m->heldout_images = h.at("heldout_images").get<std::set<std::string>>();
    m->training = h.at("training");
    if (options.question_vocab_size != m->tokenizer.size())
      throw std::runtime_error("the options' question vocabulary (" + std::to_string(options.question_vocab_size) +
                               ") differs from the tokenizer's (" + std::to_string(m->tokenizer.size()) + ")");
    m->parser = program::GqaProgramParser(options, m->vocabulary.size());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  training::loadModuleTensors(out.file, path, "parser", *m->parser);
  m->parser->eval();
  out.model = std::move(m);
  return out;
}

std::vector<GqaProgramExample> examplesOf(const GqaModel& m, const std::vector<GqaQuestion>& questions,
                                          const std::string& path, bool with_programs) {
  std::vector<GqaProgramExample> out;
  out.reserve(questions.size());
  for (const auto& q : questions) {
    GqaProgramExample e =
        program::makeGqaProgramExample(m.tokenizer, q.question, m.parser->options().max_question_tokens);
    if (with_programs && q.has_program && q.program_error.empty()) {
      try {
        e.tokens = program::gqaProgramTokens(q.program);
      } catch (const std::exception& ex) {
        throw InputError(path, "question " + excerpt(q.id), ex.what());
      }
      if (static_cast<int64_t>(e.tokens.size()) > m.parser->options().max_program_tokens)
        throw InputError(path, "question " + excerpt(q.id),
                         "its program has " + std::to_string(e.tokens.size()) + " tokens, more than the model's " +
                             std::to_string(m.parser->options().max_program_tokens));
    }
    out.push_back(std::move(e));
  }
  return out;
}

double ratio(int64_t a, int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

}  // namespace

void checkTrainGqaOptions(const TrainGqaOptions& o) {
  training::checkOptionRange("--holdout", o.holdout, 0, 0.9);
  training::checkOptionRange("--steps", static_cast<double>(o.steps), 1, 1e9);
  training::checkOptionRange("--batch-size", o.batch_size, 1, 4096);
  training::checkOptionRange("--lr", o.learning_rate, 1e-7, 1);
  training::checkOptionRange("--weight-decay", o.weight_decay, 0, 1);
  training::checkOptionRange("--min-word-count", o.min_word_count, 1, 1000000);
  training::checkOptionRange("--val-every", static_cast<double>(o.val_every), 0, 1e9);
  training::checkOptionRange("--threads", o.threads, 1, 256);
  training::checkOptionRange("--checkpoint-seconds", o.checkpoint_seconds, 1, 1e6);
  training::checkOptionRange("--log-seconds", o.log_seconds, 0, 1e9);
  training::checkOptionRange("--model-size", static_cast<double>(o.parser.model_size), 8, 4096);
  training::checkOptionRange("--heads", static_cast<double>(o.parser.num_heads), 1, 64);
  training::checkOptionRange("--layers", static_cast<double>(o.parser.encoder_layers), 1, 24);
  training::checkOptionRange("--dropout", o.parser.dropout, 0, 0.9);
  if (o.parser.model_size % o.parser.num_heads != 0) throw std::runtime_error("--model-size: must be a multiple of --heads");
}

std::unique_ptr<GqaModel> loadGqaModel(const std::string& path) { return readGqaModelFile(path).model; }

GqaModelEvaluation evaluateGqaModel(GqaModel& model, const std::vector<GqaQuestion>& questions,
                                    const std::map<std::string, SceneGraph>* graphs) {
  GqaModelEvaluation out;
  const std::vector<GqaProgramExample> examples = examplesOf(model, questions, "questions", false);
  const std::vector<program::GqaDecodedProgram> decoded = program::decodeGqaPrograms(model.parser, model.vocabulary, examples);
  out.answers.resize(questions.size());
  int64_t with_program = 0, exact = 0, answered = 0, agree = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> per_type;  // structural type -> (exact, total)
  std::map<std::string, std::string> predictions;
  std::vector<GqaQuestion> scored;
  const GqaExecutor symbolic(&model.lexicon);
  for (size_t i = 0; i < questions.size(); ++i) {
    const GqaQuestion& q = questions[i];
    GqaModelAnswer& a = out.answers[i];
    a.tokens = decoded[i].tokens;
    if (q.has_program && q.program_error.empty()) {
      std::vector<std::string> gold;
      try {
        gold = program::gqaProgramTokens(q.program);
      } catch (const std::exception&) {
        // a program the model cannot write counts as a miss
      }
      a.exact = gold == a.tokens;
      ++with_program;
      exact += a.exact;
      auto& t = per_type[q.structural.empty() ? "(none)" : q.structural];
      t.first += a.exact;
      ++t.second;
    }
    if (!graphs) continue;
    const auto g = graphs->find(q.image_id);
    if (g == graphs->end()) continue;
    const GqaProgram program = program::gqaProgramFromTokens(a.tokens);
    GqaVocabulary vocabulary;
    vocabulary.addScene(g->second);
    vocabulary.addProgram(program);
    const GqaSoftScene scene = GqaSoftScene::fromSceneGraphs({g->second}, vocabulary);
    const GqaSoftExecutor executor(vocabulary, &model.lexicon);
    const GqaSoftResult r = executor.run(program, scene, 0);
    a.answered = true;
    a.answer = r.ok ? r.answer : "";
    a.probability = r.probability;
    a.error = r.error;
    const ExecutionResult s = symbolic.run(program, g->second);
    a.symbolic_answer = s.ok ? s.answer : "";
    ++answered;
    agree += a.answer == a.symbolic_answer;
    predictions[q.id] = a.answer;
    if (q.has_answer) scored.push_back(q);
  }
  nlohmann::json types = nlohmann::json::object();
  for (const auto& [type, v] : per_type)
    types[type] = {{"exact_match", ratio(v.first, v.second)}, {"questions", v.second}};
  out.summary = {{"questions", questions.size()},
                 {"program_exact_match", ratio(exact, with_program)},
                 {"programs_compared", with_program},
                 {"per_structural_type", types}};
  if (graphs) {
    out.summary["answered"] = answered;
    out.summary["soft_symbolic_agreement"] = ratio(agree, answered);
    if (!scored.empty()) out.summary["gqa_metrics"] = scoreGqa(scored, predictions).toJson();
  }
  return out;
}

TrainGqaResult trainGqaModel(const TrainGqaOptions& options, std::ostream& progress_log) {
  TrainGqaOptions o = options;
  checkTrainGqaOptions(o);
  if (o.log_path.empty()) o.log_path = o.out_path + ".metrics.jsonl";
  if (o.curves_path.empty()) o.curves_path = o.out_path + ".curves.png";
  training::DataParallel group(o.distributed);
  group.checkBatch(o.batch_size);
  std::ostream& log = group.leaderLog(progress_log);
  hopfield::set_compute_threads(o.threads);
  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };

  const std::vector<GqaQuestion> all = readGqaQuestions(o.questions_path);
  std::map<std::string, SceneGraph> graphs;
  if (!o.scene_graphs_path.empty()) graphs = readGqaSceneGraphs(o.scene_graphs_path);
  for (const auto& q : all)
    if (!q.has_program || !q.program_error.empty())
      throw InputError(o.questions_path, "question " + excerpt(q.id),
                       q.has_program ? q.program_error : std::string("no 'semantic' program to learn"));

  std::unique_ptr<GqaModel> model;
  training::ModelFile resumed;
  int64_t start = 0;
  if (o.resume) {
    LoadedFile loaded = readGqaModelFile(o.out_path);
    const nlohmann::json& t = loaded.model->training;
    try {
      start = t.at("step").get<int64_t>();
      if (t.at("questions").get<std::string>() != std::filesystem::absolute(o.questions_path).string())
        throw std::runtime_error("it was trained on " + t.at("questions").get<std::string>());
      o.steps = t.at("steps").get<int64_t>();
      o.seed = t.at("seed").get<uint64_t>();
      o.batch_size = t.at("batch_size").get<int>();
      o.learning_rate = t.at("lr").get<double>();
      o.weight_decay = t.at("weight_decay").get<double>();
      o.warmup_steps = t.at("warmup_steps").get<int64_t>();
    } catch (const std::exception& e) {
      throw std::runtime_error(o.out_path + ": cannot resume: " + e.what());
    }
    model = std::move(loaded.model);
    resumed = std::move(loaded.file);
  } else {
    model = std::make_unique<GqaModel>();
    model->heldout_images = heldOutImages(all, o.holdout, o.split_seed);
  }
  GqaModel& m = *model;
  std::vector<GqaQuestion> train, heldout;
  for (const auto& q : all) (m.heldout_images.count(q.image_id) ? heldout : train).push_back(q);
  if (train.empty()) throw std::runtime_error(o.questions_path + ": no question is left to train on");
  if (!o.resume) {
    std::vector<std::string> texts;
    std::vector<std::vector<std::string>> programs;
    for (const auto& q : train) {
      texts.push_back(q.question);
      try {
        programs.push_back(program::gqaProgramTokens(q.program));
      } catch (const std::exception& e) {
        throw InputError(o.questions_path, "question " + excerpt(q.id), e.what());
      }
      m.lexicon.addFromProgram(q.program);
    }
    m.tokenizer = program::QuestionTokenizer::build(texts);
    m.vocabulary = program::GqaProgramVocabulary::build(programs, o.min_word_count);
    program::ProgramParserOptions p = o.parser;
    p.question_vocab_size = m.tokenizer.size();
    p.decoder_layers = p.encoder_layers;
    at::manual_seed(o.seed);
    m.parser = program::GqaProgramParser(p, m.vocabulary.size());
    m.training = {{"questions", std::filesystem::absolute(o.questions_path).string()}, {"steps", o.steps},
                  {"seed", o.seed}, {"split_seed", o.split_seed}, {"holdout", o.holdout},
                  {"batch_size", o.batch_size}, {"lr", o.learning_rate}, {"weight_decay", o.weight_decay},
                  {"warmup_steps", o.warmup_steps}, {"train_questions", train.size()},
                  {"heldout_questions", heldout.size()}, {"step", 0}, {"seconds", 0.0}};
  }
  const double seconds_before = m.training.value("seconds", 0.0);
  const std::vector<GqaProgramExample> examples = examplesOf(m, train, o.questions_path, true);
  log << "train: GQA programs: " << train.size() << " training questions, " << heldout.size() << " held out ("
      << m.heldout_images.size() << " images); program vocabulary " << m.vocabulary.size() << ", question vocabulary "
      << m.tokenizer.size() << (start ? "; resuming at step " + std::to_string(start) : std::string()) << "\n";

  m.parser->train();
  group.broadcastModule(*m.parser);  // every process starts from rank 0's weights
  training::AdamW optimizer(*m.parser, o.weight_decay, 0.9, 0.98);
  if (resumed.header.is_object() && start < o.steps) optimizer.load(resumed, start);  // a finished file has no moments
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
  TrainGqaResult result;
  result.start_step = start;
  auto validate = [&](int64_t step) {
    if (heldout.empty() || !group.leader()) return;
    const GqaModelEvaluation e = evaluateGqaModel(m, heldout, graphs.empty() ? nullptr : &graphs);
    m.parser->train();
    result.last_validation = e.summary;
    record({{"step", step}, {"heldout_exact_match", e.summary["program_exact_match"]},
            {"heldout_questions", heldout.size()}});
    log << "train: step " << step << ": held-out program exact-match "
        << e.summary["program_exact_match"].get<double>() * 100 << "% on " << heldout.size() << " questions\n";
  };
  auto drawCurves = [&] {
    if (!group.leader()) return;
    training::CurveSeries loss{"loss", {}, 0, 1, true, 200, 80, 40}, val{"held-out exact-match", {}, 0, 1, false, 40, 160, 40};
    for (const auto& j : history) {
      if (j.contains("loss")) loss.points.push_back({j["step"].get<double>(), j["loss"].get<double>()});
      if (j.contains("heldout_exact_match"))
        val.points.push_back({j["step"].get<double>(), j["heldout_exact_match"].get<double>()});
    }
    training::drawCurves(o.curves_path, {loss, val});
  };
  auto checkpoint = [&](int64_t step, bool final) {
    if (!group.leader()) return;
    m.training["step"] = step;
    m.training["seconds"] = seconds_before + elapsed();
    training::NamedTensors tensors;
    training::appendModuleTensors(*m.parser, "parser", &tensors);
    if (!final)
      for (auto& t : optimizer.state()) tensors.push_back(std::move(t));
    training::writeModelFile(o.out_path, modelHeader(m), tensors);
  };

  double sum = 0, last_log = 0, last_checkpoint = 0;
  int64_t window = 0;
  const size_t B = static_cast<size_t>(o.batch_size);
  const size_t batch = std::min(B, examples.size());
  const size_t per_epoch = std::max<size_t>(1, examples.size() / batch);
  std::vector<size_t> order(examples.size());
  uint64_t shuffled_epoch = std::numeric_limits<uint64_t>::max();
  for (int64_t step = start; step < o.steps; ++step) {
    // The batch of this step: a seeded permutation per epoch, so a resumed run sees the same batches.
    const uint64_t epoch = static_cast<uint64_t>(step) / per_epoch;
    if (epoch != shuffled_epoch) {
      std::iota(order.begin(), order.end(), size_t{0});
      std::mt19937_64 random(o.seed * 6364136223846793005ull + epoch);
      std::shuffle(order.begin(), order.end(), random);
      shuffled_epoch = epoch;
    }
    const size_t offset = (static_cast<size_t>(step) % per_epoch) * batch;
    // This process's share of the global batch; the loss is the global batch's (summed over the processes).
    const auto [first, end] = group.share(batch);
    std::vector<size_t> indices(order.begin() + offset + first, order.begin() + offset + end);

    const program::GqaProgramBatch batch = program::makeGqaProgramBatch(m.parser, m.vocabulary, examples, indices);
    at::manual_seed(o.seed * 2862933555777941757ull + static_cast<uint64_t>(step));  // dropout masks, per step
    const auto [loss_sum, counted] =
        program::gqaProgramLossSum(m.parser->forward(batch.question, batch.inputs, batch.copy_from), batch);
    const at::Tensor loss = loss_sum / std::max(1.0, group.sum(counted.item<double>()));
    optimizer.zeroGrad();
    loss.backward();
    group.sumGradients(*m.parser);
    const double lr = training::warmupCosine(o.learning_rate, step, o.steps, std::min(o.warmup_steps, o.steps / 2), 0.05);
    optimizer.step(lr, 1.0);
    const double value = group.sum(loss.item<double>());
    if (!std::isfinite(value))
      throw std::runtime_error("train: the loss became " + std::to_string(value) + " at step " + std::to_string(step) +
                               " (try a lower --lr)");
    sum += value;
    ++window;
    const int64_t done = step + 1;
    const double now = elapsed();
    if (now - last_log >= o.log_seconds || done == o.steps) {
      const double rate = static_cast<double>(done - start) * static_cast<double>(B) / std::max(1e-9, now);
      record({{"step", done}, {"loss", sum / window}, {"lr", lr}, {"questions_per_second", rate},
              {"elapsed_seconds", seconds_before + now}});
      char line[200];
      std::snprintf(line, sizeof line, "train: step %lld/%lld  loss %.4f  lr %.2e  %.0f questions/s  ETA %s",
                    static_cast<long long>(done), static_cast<long long>(o.steps), sum / window, lr, rate,
                    training::formatSeconds((o.steps - done) * static_cast<double>(B) / std::max(1e-9, rate)).c_str());
      log << line << "\n" << std::flush;
      sum = 0;
      window = 0;
      last_log = now;
    }
    if (o.val_every > 0 && done % o.val_every == 0 && done < o.steps) validate(done);
    const bool stopping = o.stop_at > 0 && done >= o.stop_at && done < o.steps;
    if (now - last_checkpoint >= o.checkpoint_seconds || stopping) {
      checkpoint(done, false);
      drawCurves();
      last_checkpoint = elapsed();
    }
    if (stopping) {
      result.steps = done;
      result.seconds = elapsed();
      return result;
    }
  }
  if (start < o.steps || !result.last_validation.is_object()) validate(o.steps);
  checkpoint(o.steps, true);
  drawCurves();
  result.steps = o.steps;
  result.seconds = elapsed();
  return result;
}

}  // namespace vqa::model
