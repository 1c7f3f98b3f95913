// Tests of the GQA engine: the program model learns real GQA programs (exact-match on its training questions
// rises far above the untrained model's), a run stopped and resumed equals an uninterrupted one, every decoded
// program parses, and `vqa train --dataset gqa` / `vqa eval --dataset gqa --model` work end to end (held-out
// images, answers through the GQA soft executor on real scene graphs) with one-line errors for bad input; two
// data-parallel processes (`--nproc 2`) train as one process does on the same global batches.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>

#include "datasets/gqa/gqa_io.h"
#include "model/gqa_model.h"
#include "test_support.h"
#include "training/distributed.h"
#include "training/model_file.h"

namespace vqa::model {
namespace {

using vqa::testing::errorLine;
using vqa::testing::runVqa;

std::string valQuestions(const std::string& shared) {
  return shared + "/data/gqa-real/questions/gqa_ood_val_bal_tail_-0.7_questions.json";
}

// The first `n` real questions (in id order) as a questions file of their own.
std::string subset(const std::string& shared, const std::string& path, size_t n) {
  const auto all = nlohmann::json::parse(vqa::testing::readText(valQuestions(shared)));
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [id, record] : all.items()) {
    if (out.size() >= n) break;
    out[id] = record;
  }
  vqa::testing::writeFile(path, out.dump());
  return path;
}

TrainGqaOptions tiny(const std::string& questions, const std::string& out) {
  TrainGqaOptions o;
  o.questions_path = questions;
  o.out_path = out;
  o.holdout = 0.0;
  o.steps = 40;
  o.batch_size = 16;
  o.learning_rate = 3e-3;
  o.warmup_steps = 5;
  o.val_every = 0;
  o.threads = 1;
  o.parser.model_size = 32;
  o.parser.num_heads = 2;
  o.parser.encoder_layers = o.parser.decoder_layers = 1;
  o.parser.dropout = 0.1;
  o.log_seconds = 1e9;
  return o;
}

double exactMatch(const std::string& model_path, const std::string& questions) {
  auto m = loadGqaModel(model_path);
  return evaluateGqaModel(*m, readGqaQuestions(questions), nullptr).summary["program_exact_match"].get<double>();
}

TEST(GqaModel, LearnsRealProgramsAndResumesExactly) {
  VQA_REQUIRE_SHARED(shared);
  const std::string dir = vqa::testing::scratchDir();
  const std::string questions = subset(shared, dir + "/q.json", 48);
  std::ostringstream log;

  TrainGqaOptions o = tiny(questions, dir + "/untrained.bin");
  o.steps = 1;
  o.learning_rate = 1e-7;
  trainGqaModel(o, log);
  const double before = exactMatch(dir + "/untrained.bin", questions);

  o = tiny(questions, dir + "/whole.bin");
  o.steps = 150;
  trainGqaModel(o, log);
  const double after = exactMatch(dir + "/whole.bin", questions);
  EXPECT_LE(before, 0.05);
  EXPECT_GE(after, 0.5) << log.str();

  // Stopped at step 20 and resumed: every tensor equals the uninterrupted run's.
  o = tiny(questions, dir + "/whole40.bin");
  trainGqaModel(o, log);
  o = tiny(questions, dir + "/parts.bin");
  o.stop_at = 20;
  EXPECT_EQ(trainGqaModel(o, log).steps, 20);
  o.stop_at = 0;
  o.resume = true;
  EXPECT_EQ(trainGqaModel(o, log).start_step, 20);
  const auto a = training::readModelFile(dir + "/whole40.bin", kGqaModelKind, kGqaModelVersion);
  const auto b = training::readModelFile(dir + "/parts.bin", kGqaModelKind, kGqaModelVersion);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t k = 0; k < a.tensors.size(); ++k) {
    EXPECT_EQ(a.tensors[k].first, b.tensors[k].first);
    EXPECT_TRUE(a.tensors[k].second.equal(b.tensors[k].second)) << a.tensors[k].first;
  }
}

TEST(GqaModel, TrainAndEvalCommandsWithOneLineErrors) {
  VQA_REQUIRE_SHARED(shared);
  const std::string dir = vqa::testing::scratchDir();
  const std::string questions = valQuestions(shared);
  const std::string graphs = shared + "/data/gqa-real/sceneGraphs/graphvqa_debug_sceneGraphs_4images.json";
  const std::string two = shared + "/data/gqa-real/questions/train_questions_2_matching_sceneGraphs.json";
  const std::string small = " --steps 20 --batch-size 16 --model-size 32 --heads 2 --layers 1 --threads 1";
  auto r = runVqa("train --dataset gqa --questions " + questions + " --out " + dir + "/gqa.bin" + small);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("held-out program exact-match"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir + "/gqa.bin.metrics.jsonl"));
  auto m = loadGqaModel(dir + "/gqa.bin");
  EXPECT_NEAR(static_cast<double>(m->heldout_images.size()), 0.2 * 1009, 1.0);

  r = runVqa("eval --dataset gqa --model " + dir + "/gqa.bin --questions " + questions + " --held-out --json " + dir +
             "/heldout.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(vqa::testing::readText(dir + "/heldout.json"));
  EXPECT_GT(j["programs_compared"].get<int>(), 200);
  EXPECT_LT(j["programs_compared"].get<int>(), 400);
  for (const char* type : {"query", "choose", "logical", "verify"}) EXPECT_TRUE(j["per_structural_type"].contains(type)) << type;

  // The two questions with scene graphs: answered through the model's programs and the GQA soft executor.
  r = runVqa("eval --dataset gqa --model " + dir + "/gqa.bin --questions " + two + " --scene-graphs " + graphs +
             " --json " + dir + "/two.json --predictions " + dir + "/pred.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(vqa::testing::readText(dir + "/two.json"));
  EXPECT_EQ(j["answered"].get<int>(), 2);
  EXPECT_TRUE(j.contains("gqa_metrics"));
  const auto predictions = nlohmann::json::parse(vqa::testing::readText(dir + "/pred.json"));
  ASSERT_EQ(predictions.size(), 2u);
  for (const auto& p : predictions)
    for (const char* key : {"questionId", "prediction", "program"}) EXPECT_TRUE(p.contains(key)) << key;

  // Bad input: one line, rc 1, nothing written.
  const std::string json = " --json " + dir + "/never.json";
  r = runVqa("eval --dataset gqa --model " + dir + "/gqa.bin.metrics.jsonl --questions " + two + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("gqa.bin.metrics.jsonl: "), std::string::npos) << r.err;
  auto broken = nlohmann::json::parse(vqa::testing::readText(graphs));
  broken.begin().value()["objects"].begin().value().erase("name");
  vqa::testing::writeFile(dir + "/graphs.json", broken.dump());
  r = runVqa("eval --dataset gqa --model " + dir + "/gqa.bin --questions " + two + " --scene-graphs " + dir +
             "/graphs.json" + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("graphs.json"), std::string::npos) << r.err;
  auto bad = nlohmann::json::parse(vqa::testing::readText(two));
  bad.begin().value()["semantic"][0]["operation"] = "teleport";
  vqa::testing::writeFile(dir + "/bad.json", bad.dump());
  r = runVqa("train --dataset gqa --questions " + dir + "/bad.json --out " + dir + "/never.bin" + small);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("unknown operation 'teleport'"), std::string::npos) << r.err;
  r = runVqa("train --dataset gqa --out " + dir + "/never.bin" + small);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), "--dataset gqa: --questions FILE is required");
  vqa::testing::writeFile(dir + "/cut.bin", vqa::testing::readText(dir + "/gqa.bin").substr(0, 4000));
  r = runVqa("eval --dataset gqa --model " + dir + "/cut.bin --questions " + two + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("cut.bin: "), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/never.json"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/never.bin"));
}

}  // namespace
}  // namespace vqa::model

namespace vqa::model {
namespace {

// The first JSON line of a metrics log that holds a loss.
double loggedLoss(const std::string& path) {
  std::istringstream lines(vqa::testing::readText(path));
  std::string line;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) return j["loss"].get<double>();
  }
  return -1;
}

// Data-parallel training: two local processes, each with half of every global batch, train the model one process
// trains on the same global batches (dropout off: masks are drawn per process).
TEST(GqaDistributed, TwoProcessesTrainAsOneOnTheSameGlobalBatches) {
  VQA_REQUIRE_SHARED(shared);
  if (!vqa::training::distributedAvailable()) GTEST_SKIP() << "this build has no c10d/Gloo (libgloo-dev)";
  const std::string dir = vqa::testing::scratchDir();
  const std::string common = "train --dataset gqa --questions " + valQuestions(shared) +
                             " --steps 20 --batch-size 8 --model-size 32 --heads 2 --layers 1 --dropout 0"
                             " --val-every 0 --threads 1 --seed 3";
  auto r = runVqa(common + " --out " + dir + "/one.bin");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = runVqa(common + " --out " + dir + "/two.bin --nproc 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  // Rank 0 alone reports and writes.
  EXPECT_EQ(r.out.find("train: 20 steps"), r.out.rfind("train: 20 steps")) << r.out;
  EXPECT_NE(r.out.find("train: 20 steps"), std::string::npos) << r.out;
  const double one = loggedLoss(dir + "/one.bin.metrics.jsonl"), two = loggedLoss(dir + "/two.bin.metrics.jsonl");
  ASSERT_GT(one, 0.0);
  EXPECT_NEAR(two, one, 1e-5 * one);
  const auto a = training::readModelFile(dir + "/one.bin", kGqaModelKind, kGqaModelVersion);
  const auto b = training::readModelFile(dir + "/two.bin", kGqaModelKind, kGqaModelVersion);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t k = 0; k < a.tensors.size(); ++k)
    EXPECT_TRUE(at::allclose(a.tensors[k].second, b.tensors[k].second, 1e-4, 1e-5)) << a.tensors[k].first;

  // Bad input: one line each.
  r = runVqa(common + " --out " + dir + "/never.bin --nproc 1000");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("--nproc: 1000 processes is more than this machine's"), std::string::npos) << r.err;
  r = runVqa(common + " --out " + dir + "/never.bin --rank 2 --world 2 --master 127.0.0.1:1");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), "--rank: must be in [0, 1] (got 2)");
  r = runVqa(common + " --out " + dir + "/never.bin --rank 1 --world 2");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), "--master ADDR:PORT is needed with --world above 1");
  r = runVqa(common + " --out " + dir + "/never.bin --rank 1 --world 2 --master localhost");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), "--master localhost: must be ADDR:PORT");
  EXPECT_FALSE(std::filesystem::exists(dir + "/never.bin"));
}

}  // namespace
}  // namespace vqa::model
