// Tests of answering from pixels: the glue between parsed images, programs and the SoftExecutor is exact on
// one-hot scenes (its answers equal the symbolic executor's on the same programs and scenes), and the
// `vqa train --scene vision`, `vqa ask` and `vqa eval --model` (from images) commands work end to end on a
// small generated set, with one-line errors for bad images, questions and models.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/typed_program.h"
#include "datasets/clevr/clevr_io.h"
#include "executor/symbolic_executor.h"
#include "generated_images.h"
#include "model/engine_model.h"
#include "model/pixel_answering.h"
#include "model/qa_data.h"
#include "model/qa_trainer.h"
#include "model/vision_finetune.h"
#include "test_support.h"
#include "tiny_scene_parser.h"
#include "training/model_file.h"
#include "vision/trainer.h"

namespace vqa::model {
namespace {

using vqa::testing::errorLine;
using vqa::testing::makeImages;
using vqa::testing::runVqa;

// A ParsedImage that is exactly a scene record: one-hot slots, the record itself as the detected scene.
ParsedImage oneHotImage(const SceneGraph& scene) {
  ParsedImage p;
  p.scene = SoftScene::fromSceneGraph({scene}, 10);
  p.graph = scene;
  for (int i = 0; i < scene.size(); ++i) {
    vision::PredictedObject o;
    o.existence = 1.0;
    o.pixel = {scene.object(i).pixel[0], scene.object(i).pixel[1]};
    p.objects.push_back(o);
    p.object_slots.push_back(i);
  }
  p.width = 480;
  p.height = 320;
  return p;
}

// Every parameter of GOT equals WANT's parameter of the same name.
void expectSameParameters(const torch::nn::Module& got, const torch::nn::Module& want) {
  auto expected = want.named_parameters();
  for (const auto& p : got.named_parameters()) EXPECT_TRUE(at::equal(p.value(), expected[p.key()])) << p.key();
}

TEST(PixelAnswering, SoftAnswersEqualTheExactExecutorOnOneHotScenes) {
  const std::string dir = vqa::testing::scratchDir();
  for (auto [split, images, seed] : {std::tuple{"train", 30, 3}, std::tuple{"val", 12, 4}}) {
    auto r = runVqa("generate --out " + dir + "/" + split + " --images " + std::to_string(images) + " --split " +
                    split + " --seed " + std::to_string(seed) + " --no-images --threads 2");
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  for (const char* sub : {"scenes", "questions"}) {
    std::filesystem::create_directories(dir + "/data/" + sub);
    for (const char* split : {"train", "val"})
      for (const auto& f : std::filesystem::directory_iterator(dir + "/" + split + "/" + sub))
        std::filesystem::rename(f.path(), dir + "/data/" + sub + "/" + f.path().filename().string());
  }
  TrainQaOptions o;
  o.data_dir = dir + "/data";
  o.out_path = dir + "/m.bin";
  o.programs = 60;
  o.warm_steps = 40;
  o.rounds = 0;
  o.batch_size = 16;
  o.val_questions = 0;
  o.model.parser.model_size = 32;
  o.model.parser.num_heads = 4;
  o.model.parser.encoder_layers = o.model.parser.decoder_layers = 1;
  std::ostringstream log;
  trainQaModel(o, log);
  LoadedEngineModel loaded = loadEngineModel(o.out_path);

  const QaDataset val = openQaDataset(dir + "/data", "val");
  std::vector<ParsedImage> images;
  for (const auto& s : val.scenes) images.push_back(oneHotImage(s));
  std::vector<std::string> questions;
  std::vector<const ParsedImage*> on;
  for (size_t k = 0; k < val.questions.size(); ++k) {
    questions.push_back(val.questions[k].question);
    on.push_back(&images[static_cast<size_t>(val.scene_of[k])]);
  }
  const auto answers = answerOnImages(*loaded.model, questions, on, 16);
  ASSERT_EQ(answers.size(), questions.size());
  const ClevrExecutor executor;
  int ran = 0;
  for (size_t k = 0; k < answers.size(); ++k) {
    const PixelAnswer& a = answers[k];
    ASSERT_EQ(a.step_attention.size(), a.program.size());
    ASSERT_EQ(a.step_answers.size(), a.program.size());
    const ExecutionResult exact = executor.run(fromPostfix(a.program), on[k]->graph);
    if (!exact.ok) continue;  // a wrong program of this little model; the soft answer has no reference then
    ++ran;
    EXPECT_EQ(a.answer, exact.answer) << questions[k] << " | " << tokensToString(a.program);
    EXPECT_EQ(a.symbolic_answer, exact.answer);
    EXPECT_NEAR(a.probability, 1.0, 1e-4) << questions[k];
    EXPECT_EQ(a.step_answers.back(), exact.answer);
    for (const auto& step : a.step_attention) EXPECT_EQ(step.size(), on[k]->objects.size());
  }
  EXPECT_GT(ran, static_cast<int>(answers.size()) / 2) << "too few programs ran to compare";
}

// Options that train a small program model over an untrained scene parser with `parser_options` (saved as
// DIR/vision.bin) into DIR/base.bin: the engine the fine-tuning tests start from.
TrainQaOptions tinyVisionEngine(const std::string& dir, const std::string& data,
                                const vision::SceneParserOptions& parser_options) {
  vision::SceneParser parser(parser_options);
  vision::saveSceneParser(dir + "/vision.bin", parser);
  TrainQaOptions programs;
  programs.data_dir = data;
  programs.out_path = dir + "/base.bin";
  programs.programs = 20;
  programs.warm_steps = 5;
  programs.rounds = 0;
  programs.val_questions = 0;
  programs.model.scene = "vision";
  programs.vision_path = dir + "/vision.bin";
  programs.model.parser.model_size = 16;
  programs.model.parser.num_heads = 2;
  programs.model.parser.encoder_layers = programs.model.parser.decoder_layers = 1;
  return programs;
}

// Fine-tuning from answers stopped midway and resumed ends exactly where an uninterrupted run ends, flips
// included (the checkpoint's setting holds on resume); flipping changes what it learns.
TEST(VisionFinetune, ResumedRunEqualsUninterruptedRun) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = makeImages(dir + "/data", "train", 6, 8);
  vision::SceneParserOptions tiny = vqa::testing::tinySceneParserOptions();
  tiny.crop_size = 16;
  const TrainQaOptions programs = tinyVisionEngine(dir, data, tiny);
  std::ostringstream log;
  trainQaModel(programs, log);
  for (const char* name : {"straight.bin", "resumed.bin", "unflipped.bin"})
    std::filesystem::copy_file(dir + "/base.bin", dir + "/" + name);

  FinetuneVisionOptions o;
  o.data_dir = data;
  o.steps = 4;
  o.batch_size = 2;
  o.learning_rate = 1e-3;
  o.log_seconds = 0;
  o.model_path = dir + "/unflipped.bin";
  finetuneVision(o, log);
  o.flip = true;
  o.model_path = dir + "/straight.bin";
  finetuneVision(o, log);
  o.model_path = dir + "/resumed.bin";
  o.stop_at = 2;
  EXPECT_EQ(finetuneVision(o, log).steps, 2);
  EXPECT_TRUE(std::filesystem::exists(dir + "/resumed.bin.finetune.bin"));
  o.stop_at = 0;
  o.resume = true;
  o.flip = false;  // the checkpoint says it flips
  EXPECT_EQ(finetuneVision(o, log).start_step, 2);
  const auto a = vqa::training::readModelFile(dir + "/straight.bin", kEngineModelKind, kEngineModelFormatVersion);
  const auto b = vqa::training::readModelFile(dir + "/resumed.bin", kEngineModelKind, kEngineModelFormatVersion);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  int vision_tensors = 0;
  for (size_t k = 0; k < a.tensors.size(); ++k) {
    EXPECT_EQ(a.tensors[k].first, b.tensors[k].first);
    EXPECT_TRUE(at::equal(a.tensors[k].second, b.tensors[k].second)) << a.tensors[k].first;
    vision_tensors += a.tensors[k].first.rfind("vision.", 0) == 0;
  }
  EXPECT_GT(vision_tensors, 0);
  const auto base = vqa::training::readModelFile(dir + "/base.bin", kEngineModelKind, kEngineModelFormatVersion);
  EXPECT_FALSE(at::equal(*base.find("vision.crop_out.weight"), *a.find("vision.crop_out.weight")));
  const auto unflipped =
      vqa::training::readModelFile(dir + "/unflipped.bin", kEngineModelKind, kEngineModelFormatVersion);
  EXPECT_FALSE(at::equal(*unflipped.find("vision.crop_out.weight"), *a.find("vision.crop_out.weight")));
}

// A program model trained on a share of the question-answer pairs is fine-tuned on that share only: the pairs
// selectQuestions gives for the run's seed, supervised programs and fraction.
TEST(VisionFinetune, LearnsOnlyFromThePairsTheProgramRunTrainedOn) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = makeImages(dir + "/data", "train", 8, 9);
  const QaDataset qa = openQaDataset(data, "train");
  const int n = static_cast<int>(qa.questions.size());
  ASSERT_GE(n, 40);
  // The selection: `programs` supervised questions over the families, then the fraction of the rest.
  const QuestionSelection some = selectQuestions(qa, 5, 10, 0.25);
  ASSERT_EQ(some.warm.size(), 10u);
  std::set<int> families;
  for (int k : some.warm) families.insert(qa.questions[static_cast<size_t>(k)].question_family_index);
  std::set<int> all_families;
  for (const auto& q : qa.questions) all_families.insert(q.question_family_index);
  EXPECT_EQ(families.size(), std::min<size_t>(10, all_families.size())) << "one per family first";
  EXPECT_LE(some.qa.size(), static_cast<size_t>(std::llround(0.25 * n)));
  EXPECT_GE(some.qa.size(), static_cast<size_t>(std::llround(0.25 * n)) - 10);
  for (int k : some.qa) EXPECT_EQ(std::count(some.warm.begin(), some.warm.end(), k), 0);
  EXPECT_EQ(selectQuestions(qa, 5, 10, 0.25).qa, some.qa) << "the seed alone chooses";
  EXPECT_NE(selectQuestions(qa, 6, 10, 0.25).qa, some.qa);

  TrainQaOptions programs = tinyVisionEngine(dir, data, vqa::testing::tinySceneParserOptions());
  programs.programs = 10;
  programs.qa_fraction = 0.25;
  programs.seed = 5;
  std::ostringstream log;
  trainQaModel(programs, log);
  // The model file records the selection; the fine-tuning keeps to it whatever its own seed, unless a share
  // is asked for.
  const nlohmann::json recorded = loadEngineModel(dir + "/base.bin").model->trained_on;
  ASSERT_TRUE(recorded.is_object());
  EXPECT_EQ(recorded["seed"], 5);
  EXPECT_EQ(recorded["programs"], 10);
  EXPECT_DOUBLE_EQ(recorded["qa_fraction"].get<double>(), 0.25);
  FinetuneVisionOptions o;
  o.data_dir = data;
  o.steps = 1;
  o.batch_size = 2;
  o.seed = 77;      // the fine-tuning's own batches; not the selection's
  o.programs = 99;  // stands in only for a model that records nothing
  int64_t learnt[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    o.qa_fraction = k == 0 ? 0 : 1.0;
    o.model_path = dir + "/ft" + std::to_string(k) + ".bin";
    std::filesystem::copy_file(dir + "/base.bin", o.model_path);
    learnt[k] = finetuneVision(o, log).questions;
  }
  EXPECT_GT(learnt[0], 0);
  EXPECT_LE(learnt[0], static_cast<int64_t>(some.warm.size() + some.qa.size()));
  EXPECT_GT(learnt[1], learnt[0]) << "all the pairs give more to learn from";
  EXPECT_NE(log.str().find("programs for " + std::to_string(some.warm.size() + some.qa.size()) + " of " +
                           std::to_string(n) + " questions"),
            std::string::npos)
      << log.str();
  EXPECT_NE(log.str().find("its programs learnt from 0.25 of the pairs; fine-tuning on 1 as asked"), std::string::npos)
      << log.str();
  EXPECT_EQ(loadEngineModel(o.model_path).model->trained_on, recorded) << "the fine-tuned model keeps the record";
  // The recorded share belongs to the train split: fine-tuning it on another split is a one-line error.
  o.qa_fraction = 0;
  o.split = "val";
  o.model_path = dir + "/ft-val.bin";
  std::filesystem::copy_file(dir + "/base.bin", o.model_path);
  try {
    finetuneVision(o, log);
    ADD_FAILURE() << "fine-tuned a share of 'train' on 'val'";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'train' split"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(PixelCommands, TrainAskAndEvalFromImagesWithOneLineErrors) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = makeImages(dir + "/data", "train", 8, 5);
  makeImages(dir + "/val", "val", 3, 6);
  for (const char* sub : {"images/val", "scenes", "questions"}) {
    std::filesystem::create_directories(data + "/" + sub);
    for (const auto& f : std::filesystem::directory_iterator(dir + "/val/" + sub))
      if (f.is_regular_file()) std::filesystem::rename(f.path(), data + "/" + sub + "/" + f.path().filename().string());
  }
  const std::string tiny_vision = " --vision-steps 3";
  const std::string small = " --programs 20 --warm-steps 5 --rounds 1 --round-steps 3 --samples 2 --model-size 16"
                            " --heads 2 --layers 1 --val-questions 5 --threads 1";
  // The whole engine from one command: the scene parser first (OUT.vision.bin), then the programs.
  auto r = runVqa("train --scene vision --data " + data + " --out " + dir + "/engine.bin" + tiny_vision + small);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/engine.bin.vision.bin"));
  const std::string model = " --model " + dir + "/engine.bin";
  const std::string image = data + "/images/train/CLEVR_train_000000.png";

  r = runVqa("ask" + model + " --image " + image + " \"How many cubes are there?\" --explain " + dir +
             "/why.png --json " + dir + "/a.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("answer: "), std::string::npos) << r.out;
  auto j = nlohmann::json::parse(vqa::testing::readText(dir + "/a.json"));
  for (const char* key : {"answer", "probability", "program", "steps", "objects"}) EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["steps"].size(), j["program"].size());
  for (const auto& step : j["steps"]) EXPECT_EQ(step["attention"].size(), j["objects"].size());
  const cv::Mat picture = cv::imread(dir + "/why.png");
  ASSERT_FALSE(picture.empty());
  EXPECT_EQ(picture.cols, 960);

  // Many questions on stdin, one model load; a bad line is named and the others are answered.
  vqa::testing::writeFile(dir + "/q.txt", "Is there a sphere?\n\nWhat color is the cube?\n   \nHow many things?\n");
  r = runVqa("ask" + model + " --image " + image + " --json " + dir + "/many.json < " + dir + "/q.txt");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(vqa::testing::readText(dir + "/many.json")).size(), 3u);

  // Bad input: one line each, rc 1, no output file.
  const std::string json = " --json " + dir + "/never.json";
  r = runVqa("ask" + model + " --image " + dir + "/nowhere.png \"Is there a cube?\"" + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find(dir + "/nowhere.png"), std::string::npos) << r.err;
  vqa::testing::writeFile(dir + "/text.png", "this is not an image");
  r = runVqa("ask" + model + " --image " + dir + "/text.png \"Is there a cube?\"" + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find(dir + "/text.png"), std::string::npos) << r.err;
  r = runVqa("ask" + model + " --image " + image + " \"  \"" + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), "question: the question is empty");
  r = runVqa("ask" + model + " --image " + image + " \"" + std::string(10000, 'a') + "\"" + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), "question: the question has 10000 characters, more than the 1000 allowed");
  r = runVqa("ask --model " + dir + "/engine.bin.vision.bin --image " + image + " \"Is there a cube?\"" + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("engine.bin.vision.bin: "), std::string::npos) << r.err;
  r = runVqa("train --data " + data + " --out " + dir + "/oracle.bin" + small);
  ASSERT_EQ(r.rc, 0) << r.err;
  r = runVqa("ask --model " + dir + "/oracle.bin --image " + image + " \"Is there a cube?\"" + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("has no scene parser"), std::string::npos) << r.err;
  vqa::testing::writeFile(dir + "/cut.bin", vqa::testing::readText(dir + "/engine.bin").substr(0, 5000));
  r = runVqa("ask --model " + dir + "/cut.bin --image " + image + " \"Is there a cube?\"" + json);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("cut.bin: "), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/never.json"));

  // End-to-end fine-tuning of the scene parser from answers: the parser's weights move, the programs stay.
  r = runVqa("train --scene vision --programs-from " + dir + "/oracle.bin --vision " + dir +
             "/engine.bin.vision.bin --data " + data + " --out " + dir + "/tuned.bin --finetune-vision 2"
             " --finetune-batch-size 2 --finetune-lr 1e-3 --threads 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/tuned.bin.finetune.bin"));  // the stage's checkpoint is gone
  {
    const LoadedEngineModel tuned = loadEngineModel(dir + "/tuned.bin");
    const LoadedEngineModel oracle = loadEngineModel(dir + "/oracle.bin");
    const auto before = vision::loadSceneParser(dir + "/engine.bin.vision.bin");
    ASSERT_TRUE(tuned.model->vision);
    auto original = before.parser->named_parameters();
    int moved = 0;
    for (auto& p : tuned.model->vision->named_parameters()) moved += !at::equal(p.value(), original[p.key()]);
    EXPECT_GT(moved, 0);
    expectSameParameters(*tuned.model->parser, *oracle.model->parser);
    EXPECT_TRUE(oracle.model->trained_on.is_object());
    EXPECT_EQ(tuned.model->trained_on, oracle.model->trained_on) << "joined with the record of its programs";
  }
  // The tuned engine's programs under another scene parser: its own parser is replaced, its programs kept.
  r = runVqa("train --scene vision --programs-from " + dir + "/tuned.bin --vision " + dir +
             "/engine.bin.vision.bin --data " + data + " --out " + dir + "/rejoined.bin --threads 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("in place of its own"), std::string::npos) << r.err;
  {
    const LoadedEngineModel rejoined = loadEngineModel(dir + "/rejoined.bin");
    const LoadedEngineModel oracle = loadEngineModel(dir + "/oracle.bin");
    const auto parser = vision::loadSceneParser(dir + "/engine.bin.vision.bin");
    ASSERT_TRUE(rejoined.model->vision);
    expectSameParameters(*rejoined.model->vision, *parser.parser);
    expectSameParameters(*rejoined.model->parser, *oracle.model->parser);
    EXPECT_EQ(rejoined.model->trained_on, oracle.model->trained_on);
  }
  // --vision also takes an engine and joins the scene parser inside it.
  r = runVqa("train --scene vision --programs-from " + dir + "/oracle.bin --vision " + dir + "/tuned.bin --data " +
             data + " --out " + dir + "/from-engine.bin --threads 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  expectSameParameters(*loadEngineModel(dir + "/from-engine.bin").model->vision,
                       *loadEngineModel(dir + "/tuned.bin").model->vision);

  // Evaluation from the images, with the detections scored against the scene file.
  r = runVqa("eval" + model + " --data " + data + " --split val --threads 1 --json " + dir + "/e.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(vqa::testing::readText(dir + "/e.json"));
  EXPECT_EQ(j["total"], readClevrQuestions(data + "/questions/CLEVR_val_questions.json").questions.size());
  EXPECT_EQ(j["mode"]["scene"], "vision");
  for (const char* key : {"per_type", "program_exact_match", "symbolic_accuracy", "scenes"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["scenes"]["images"], 3);
  // eval-scenes reads the scene parser inside an engine: engine.bin holds engine.bin.vision.bin as trained, so
  // both files score the same; an oracle-scene engine has none to read.
  r = runVqa("eval-scenes" + model + " --data " + data + " --split val --json " + dir + "/in-engine.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = runVqa("eval-scenes --model " + dir + "/engine.bin.vision.bin --data " + data + " --split val --json " + dir +
             "/own-file.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  {
    const auto in_engine = nlohmann::json::parse(vqa::testing::readText(dir + "/in-engine.json"));
    const auto own_file = nlohmann::json::parse(vqa::testing::readText(dir + "/own-file.json"));
    EXPECT_EQ(in_engine["images"], 3);
    for (const char* key : {"detection", "attributes", "confusion", "relations", "position_error"})
      EXPECT_EQ(in_engine[key], own_file[key]) << key;
  }
  r = runVqa("eval-scenes --model " + dir + "/oracle.bin --data " + data + " --split val");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("has no scene parser"), std::string::npos) << r.err;
  // Without a scene file (images and questions only) it still answers; --scene oracle uses the annotations.
  std::filesystem::remove(data + "/scenes/CLEVR_val_scenes.json");
  r = runVqa("eval" + model + " --data " + data + " --split val --threads 1 --json " + dir + "/e2.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(nlohmann::json::parse(vqa::testing::readText(dir + "/e2.json")).contains("scenes"));
  r = runVqa("eval --model " + dir + "/oracle.bin --scene vision --data " + data + " --split train");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("has no scene parser"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace vqa::model
