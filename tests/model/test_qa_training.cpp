// Tests of the engine's training from question-answer pairs (ground-truth scenes): it learns (validation
// accuracy measured by the exact executor rises far above an untrained model's), a resumed run equals an
// uninterrupted one tensor for tensor, the model file round-trips and refuses foreign or damaged files, and
// `vqa train` / `vqa eval --model` give one-line errors on bad data while answering odd questions.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/typed_program.h"
#include "executor/symbolic_executor.h"
#include "model/engine_model.h"
#include "program/concepts.h"
#include "model/qa_data.h"
#include "model/qa_trainer.h"
#include "test_support.h"
#include "training/distributed.h"
#include "training/model_file.h"

namespace vqa::model {
namespace {

using vqa::testing::errorLine;
using vqa::testing::runVqa;

// A small generated dataset (the project's own templates, no images): train and val splits in one folder.
std::string makeDataset(const std::string& dir, int train_images, int val_images) {
  const std::string data = dir + "/data";
  for (auto [split, images, seed] : {std::tuple{"train", train_images, 3}, std::tuple{"val", val_images, 4}}) {
    const std::string out = dir + "/gen-" + split;
    const auto r = runVqa("generate --out " + out + " --images " + std::to_string(images) + " --split " + split +
                          " --seed " + std::to_string(seed) + " --no-images --threads 2");
    EXPECT_EQ(r.rc, 0) << r.err;
    for (const char* sub : {"scenes", "questions"}) {
      std::filesystem::create_directories(data + "/" + sub);
      for (const auto& f : std::filesystem::directory_iterator(out + "/" + sub))
        std::filesystem::rename(f.path(), data + "/" + sub + "/" + f.path().filename().string());
    }
  }
  return data;
}

TrainQaOptions tinyRun(const std::string& data, const std::string& out) {
  TrainQaOptions o;
  o.data_dir = data;
  o.out_path = out;
  o.programs = 60;
  o.warm_steps = 30;
  o.rounds = 1;
  o.round_steps = 20;
  o.samples = 3;
  o.batch_size = 16;
  o.val_questions = 50;
  o.threads = 1;
  o.model.parser.model_size = 32;
  o.model.parser.num_heads = 4;
  o.model.parser.encoder_layers = o.model.parser.decoder_layers = 1;
  return o;
}

TEST(QaTraining, ResumedRunEqualsUninterruptedRun) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = makeDataset(dir, 30, 10);
  std::ostringstream log;
  TrainQaOptions straight = tinyRun(data, dir + "/straight.bin");
  trainQaModel(straight, log);
  // Interrupted twice: inside the warm start and inside the round (after its search).
  TrainQaOptions part = tinyRun(data, dir + "/resumed.bin");
  part.stop_at = 17;
  EXPECT_EQ(trainQaModel(part, log).steps, 17);
  part.stop_at = 41;
  part.resume = true;
  EXPECT_EQ(trainQaModel(part, log).start_step, 17);
  part.stop_at = 0;
  EXPECT_EQ(trainQaModel(part, log).start_step, 41);

  const auto a = training::readModelFile(dir + "/straight.bin", kEngineModelKind, kEngineModelFormatVersion);
  const auto b = training::readModelFile(dir + "/resumed.bin", kEngineModelKind, kEngineModelFormatVersion);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t k = 0; k < a.tensors.size(); ++k) {
    EXPECT_EQ(a.tensors[k].first, b.tensors[k].first);
    EXPECT_TRUE(at::equal(a.tensors[k].second, b.tensors[k].second)) << a.tensors[k].first;
  }
  EXPECT_EQ(a.header["training"]["step"], 50);
  EXPECT_EQ(a.header["program"], b.header["program"]);
  // The metrics log of the resumed run holds each step once, like the uninterrupted one.
  auto steps = [](const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::vector<int64_t> out;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("loss")) out.push_back(j["step"].get<int64_t>());
    }
    return out;
  };
  const auto resumed_steps = steps(dir + "/resumed.bin.metrics.jsonl");
  EXPECT_TRUE(std::is_sorted(resumed_steps.begin(), resumed_steps.end()));
  EXPECT_EQ(resumed_steps.back(), 50);
  EXPECT_TRUE(std::filesystem::exists(dir + "/straight.bin.curves.png"));
}

TEST(QaTraining, LearnsToAnswerFromAFewProgramsAndAnswers) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = makeDataset(dir, 120, 30);
  std::ostringstream log;
  TrainQaOptions o = tinyRun(data, dir + "/m.bin");
  o.programs = 90;
  o.warm_steps = 250;
  o.rounds = 1;
  o.round_steps = 150;
  o.samples = 4;
  o.val_questions = 300;
  o.threads = 2;
  // An untrained model of the same shape, for reference.
  TrainQaOptions untrained = o;
  untrained.out_path = dir + "/untrained.bin";
  untrained.programs = 0;
  untrained.rounds = 0;
  EXPECT_THROW(trainQaModel(untrained, log), std::runtime_error);  // nothing to learn from
  const TrainQaResult r = trainQaModel(o, log);
  const double accuracy = r.last_validation.at("accuracy").get<double>();
  const double exact = r.last_validation.at("program_exact_match").get<double>();
  std::printf("after training: val accuracy %.3f, program exact-match %.3f\n%s", accuracy, exact, log.str().c_str());
  EXPECT_GT(accuracy, 0.75);
  EXPECT_GT(exact, 0.5);

  // The saved model answers the same way when loaded, and through `vqa eval --model`.
  const auto eval = runVqa("eval --model " + dir + "/m.bin --data " + data + " --scene oracle --json " + dir + "/e.json");
  ASSERT_EQ(eval.rc, 0) << eval.err;
  const auto j = nlohmann::json::parse(vqa::testing::readText(dir + "/e.json"));
  EXPECT_EQ(j["total"], 300);
  EXPECT_NEAR(j["accuracy"].get<double>(), accuracy, 1e-9);
  EXPECT_NEAR(j["program_exact_match"].get<double>(), exact, 1e-9);
  for (const char* type : {"exist", "count", "compare_number", "query_attribute", "compare_attribute"})
    EXPECT_TRUE(j["per_type"].contains(type)) << type;
  EXPECT_FALSE(j["per_family"].empty());

  // Execution- and coverage-guided answering: where the greedy program cannot run, a sampled one that runs is
  // kept; where it runs but skips a phrase, only a sampled one that runs and uses every phrase replaces it; the
  // exact executor agrees with each kept program's answer, and a question's answer does not depend on the
  // batch it comes in.
  LoadedEngineModel loaded = loadEngineModel(dir + "/m.bin");
  const QaDataset val = openQaDataset(data, "val");
  std::vector<std::string> questions;
  std::vector<const SceneGraph*> scenes;
  for (size_t k = 0; k < val.questions.size(); ++k) {
    questions.push_back(val.questions[k].question);
    scenes.push_back(&val.scenes[val.scene_of[k]]);
  }
  const auto greedy = answerWithScenes(*loaded.model, questions, scenes, 64, 0);
  const auto guided = answerWithScenes(*loaded.model, questions, scenes, 64);
  int greedy_failed = 0, guided_failed = 0, changed = 0;
  const ClevrExecutor executor;
  for (size_t k = 0; k < questions.size(); ++k) {
    greedy_failed += !greedy[k].error.empty();
    guided_failed += !guided[k].error.empty();
    const auto chains = loaded.model->phraseChains(questions[k]);
    const auto pointed = loaded.model->parserTargets(questions[k], guided[k].program);
    if (greedy[k].error.empty() && guided[k].program != greedy[k].program) {
      EXPECT_TRUE(guided[k].error.empty()) << questions[k];
      EXPECT_TRUE(program::coversPhrases(pointed, chains, numProgramTokens())) << questions[k];
      EXPECT_FALSE(program::coversPhrases(loaded.model->parserTargets(questions[k], greedy[k].program), chains,
                                          numProgramTokens()))
          << questions[k];
    }
    if (!greedy[k].error.empty() && guided[k].error.empty()) {
      ++changed;
      const ExecutionResult r = executor.run(fromPostfix(guided[k].program), *scenes[k]);
      ASSERT_TRUE(r.ok) << questions[k];
      EXPECT_EQ(r.answer, guided[k].answer);
      const auto alone = answerWithScenes(*loaded.model, {questions[k]}, {scenes[k]}, 1);
      EXPECT_EQ(alone[0].program, guided[k].program) << questions[k];
    }
  }
  std::printf("val: %d of %zu greedy programs cannot run; %d after execution-guided retries\n", greedy_failed,
              questions.size(), guided_failed);
  EXPECT_LE(guided_failed, greedy_failed);
  EXPECT_EQ(guided_failed + changed, greedy_failed);
}

TEST(QaCommands, BadDataAndModelsAreOneLineErrorsAndOddQuestionsAreAnswered) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = makeDataset(dir, 20, 6);
  const std::string small = " --programs 20 --warm-steps 5 --rounds 1 --round-steps 3 --samples 2 --model-size 16"
                            " --heads 2 --layers 1 --val-questions 10";
  auto r = runVqa("train --data " + data + " --out " + dir + "/m.bin" + small);
  ASSERT_EQ(r.rc, 0) << r.err;

  // A question without an answer, and an empty question: the file, the record and the problem; no model.
  const std::string questions = data + "/questions/CLEVR_train_questions.json";
  auto file = nlohmann::json::parse(vqa::testing::readText(questions));
  const std::string bad = dir + "/bad";
  std::filesystem::create_directories(bad + "/questions");
  std::filesystem::copy(data + "/scenes", bad + "/scenes");
  auto noAnswer = file;
  noAnswer["questions"][3].erase("answer");
  vqa::testing::writeFile(bad + "/questions/CLEVR_train_questions.json", noAnswer.dump());
  r = runVqa("train --data " + bad + " --out " + dir + "/bad.bin" + small);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("CLEVR_train_questions.json: question 3"), std::string::npos) << errorLine(r);
  EXPECT_NE(errorLine(r).find("no answer"), std::string::npos) << errorLine(r);
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad.bin"));
  auto empty = file;
  empty["questions"][5]["question"] = "  ";
  vqa::testing::writeFile(bad + "/questions/CLEVR_train_questions.json", empty.dump());
  r = runVqa("train --data " + bad + " --out " + dir + "/bad.bin" + small);
  EXPECT_NE(errorLine(r).find("question 5"), std::string::npos) << errorLine(r);
  EXPECT_NE(errorLine(r).find("empty question"), std::string::npos) << errorLine(r);
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad.bin"));

  // Questions of unknown words only, or of 10,000 characters: answered (each program runs), no crash.
  auto odd = nlohmann::json::parse(vqa::testing::readText(data + "/questions/CLEVR_val_questions.json"));
  odd["questions"][0]["question"] = "Zorblax quux flimflam?";
  std::string longQuestion;
  while (longQuestion.size() < 10000) longQuestion += "is there a big red cube left of the sphere ";
  odd["questions"][1]["question"] = longQuestion.substr(0, 10000);
  const std::string oddDir = dir + "/odd";
  std::filesystem::create_directories(oddDir + "/questions");
  std::filesystem::copy(data + "/scenes", oddDir + "/scenes");
  vqa::testing::writeFile(oddDir + "/questions/CLEVR_val_questions.json", odd.dump());
  r = runVqa("eval --model " + dir + "/m.bin --data " + oddDir + " --scene oracle --json " + dir + "/odd.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(vqa::testing::readText(dir + "/odd.json"));
  EXPECT_EQ(j["total"].get<size_t>(), odd["questions"].size());
  EXPECT_TRUE(j["errors"].is_array());

  // Truncated, foreign and missing model files.
  const std::string model = vqa::testing::readText(dir + "/m.bin");
  vqa::testing::writeFile(dir + "/cut.bin", model.substr(0, model.size() / 2));
  r = runVqa("eval --model " + dir + "/cut.bin --data " + data + " --scene oracle");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("cut.bin"), std::string::npos) << errorLine(r);
  training::writeModelFile(dir + "/other.bin", {{"kind", "vqa-scene-parser"}, {"format_version", 1}}, {});
  r = runVqa("eval --model " + dir + "/other.bin --data " + data + " --scene oracle");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("vqa-scene-parser"), std::string::npos) << errorLine(r);
  r = runVqa("eval --model " + dir + "/none.bin --data " + data + " --scene oracle");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("none.bin"), std::string::npos) << errorLine(r);
  // A model is not a resumable checkpoint of another run's data.
  r = runVqa("train --data " + data + " --out " + dir + "/cut.bin --resume" + small);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("cut.bin"), std::string::npos) << errorLine(r);
}

// Data-parallel training: two local processes, each with half of every global batch and every other chunk of
// each round's search, train the model one process trains (dropout off: masks are drawn per process).
TEST(QaDistributed, TwoProcessesTrainAsOneThroughTheSearchRounds) {
  if (!vqa::training::distributedAvailable()) GTEST_SKIP() << "this build has no c10d/Gloo (libgloo-dev)";
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = makeDataset(dir, 30, 10);
  const std::string settings = "train --data " + data + " --programs 60 --warm-steps 10 --rounds 2 --round-steps 8"
                               " --samples 3 --wide-samples 4 --batch-size 16 --model-size 32 --heads 4 --layers 1"
                               " --dropout 0 --val-questions 20 --threads 1 --seed 3 --log-seconds 0";
  const std::string common = settings + " --scene oracle";
  auto r = runVqa(common + " --out " + dir + "/one.bin");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = runVqa(common + " --out " + dir + "/two.bin --nproc 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  // Rank 0 alone reports and writes.
  EXPECT_NE(r.out.find("train: 26 steps"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("train: 26 steps"), r.out.rfind("train: 26 steps")) << r.out;
  // The same searches (what they found) and validations, the same loss at every step.
  auto records = [](const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::vector<nlohmann::json> searches, validations;
    std::vector<double> losses;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      if (j.contains("search")) {
        j["search"].erase("seconds");
        searches.push_back(j["search"]);
      }
      if (j.contains("val")) validations.push_back(j["val"]);
      if (j.contains("loss")) losses.push_back(j["loss"].get<double>());
    }
    return std::tuple{searches, validations, losses};
  };
  const auto [searches_one, val_one, losses_one] = records(dir + "/one.bin.metrics.jsonl");
  const auto [searches_two, val_two, losses_two] = records(dir + "/two.bin.metrics.jsonl");
  ASSERT_EQ(searches_one.size(), 2u);
  EXPECT_GT(searches_one.back()["found"].get<double>(), 0.0);
  EXPECT_EQ(searches_two, searches_one);
  EXPECT_EQ(val_two, val_one);
  ASSERT_EQ(losses_one.size(), 26u);
  ASSERT_EQ(losses_two.size(), 26u);
  for (size_t k = 0; k < losses_one.size(); ++k) EXPECT_NEAR(losses_two[k], losses_one[k], 1e-5 * losses_one[k]) << k;
  const auto a = training::readModelFile(dir + "/one.bin", kEngineModelKind, kEngineModelFormatVersion);
  const auto b = training::readModelFile(dir + "/two.bin", kEngineModelKind, kEngineModelFormatVersion);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t k = 0; k < a.tensors.size(); ++k) {
    ASSERT_EQ(a.tensors[k].first, b.tensors[k].first);
    if (a.tensors[k].first == "memory")  // the pseudo-programs
      EXPECT_TRUE(at::equal(a.tensors[k].second, b.tensors[k].second));
    else
      EXPECT_TRUE(at::allclose(a.tensors[k].second, b.tensors[k].second, 1e-4, 1e-5)) << a.tensors[k].first;
  }

  // What runs in one process only: one line each, nothing written.
  r = runVqa(settings + " --out " + dir + "/never.bin --nproc 2 --scene vision --finetune-vision 5");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("--finetune-vision: runs in one process"), std::string::npos) << r.err;
  r = runVqa(settings + " --out " + dir + "/never.bin --world 2 --rank 1 --master 127.0.0.1:1 --programs-from " + dir +
             "/one.bin --scene vision");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("--programs-from: joins two models in one process"), std::string::npos) << r.err;
  r = runVqa(settings + " --out " + dir + "/never.bin --nproc 2 --scene vision");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("train the scene parser first (vqa train-vision) and give it with --vision"),
            std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/never.bin"));
}

}  // namespace
}  // namespace vqa::model
