// Training the scene parser on a handful of generated images: the loss drops, an interrupted run resumed
// from its checkpoint ends bit for bit where an uninterrupted one does, evaluation reports every key, and
// the commands turn bad options and files into one-line errors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <sstream>

#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/generator.h"
#include "generated_images.h"
#include "test_support.h"
#include "tiny_scene_parser.h"
#include "vision/scene_metrics.h"
#include "vision/trainer.h"

using namespace vqa::vision;
using vqa::training::readModelFile;

namespace {
// A few small CLEVR-layout images (240x160: pixel_coords are at that scale).
std::string generateImages(const std::string& dir, int images, const std::string& split = "train") {
  return vqa::testing::makeImages(dir, split, images, 7, 2);
}

TrainVisionOptions tinyTraining(const std::string& data, const std::string& out) {
  TrainVisionOptions o;
  o.data_dir = data;
  o.out_path = out;
  o.val_images = 0;
  o.batch_size = 4;
  o.learning_rate = 4e-3;
  o.threads = 1;
  o.loader_threads = 2;
  o.log_seconds = 0;  // a log line every step
  o.checkpoint_seconds = 1e6;
  o.model = vqa::testing::tinySceneParserOptions();
  return o;
}

std::vector<double> loggedLosses(const std::string& path) {
  std::vector<double> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) out.push_back(j["loss"].get<double>());
  }
  return out;
}
}  // namespace

TEST(SceneParserTraining, LossDropsAndEvaluationReportsEveryKey) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = generateImages(dir + "/data", 8);
  TrainVisionOptions o = tinyTraining(data, dir + "/model.bin");
  o.steps = 60;
  std::ostringstream log;
  TrainVisionResult r = trainSceneParser(o, log);
  EXPECT_EQ(r.steps, 60);
  const auto losses = loggedLosses(dir + "/model.bin.metrics.jsonl");
  ASSERT_EQ(losses.size(), 60u);
  double first = 0, last = 0;
  for (int k = 0; k < 5; ++k) first += losses[static_cast<size_t>(k)] / 5, last += losses[losses.size() - 1 - k] / 5;
  EXPECT_LT(last, 0.6 * first) << "first " << first << " last " << last;
  EXPECT_TRUE(std::filesystem::exists(dir + "/model.bin.curves.png"));

  LoadedSceneParser loaded = loadSceneParser(dir + "/model.bin");
  SceneDataset dataset = openSceneDataset(data, "train");
  EvaluateOptions eo;
  eo.questions_path = data + "/questions/CLEVR_train_questions.json";
  nlohmann::json j = evaluateSceneParser(loaded.parser, dataset, eo);
  EXPECT_EQ(j["images"], 8);
  for (const char* key : {"precision", "recall", "f1"}) EXPECT_TRUE(j["detection"].contains(key)) << key;
  for (const char* key : {"color", "shape", "material", "size"}) {
    EXPECT_TRUE(j["attributes"].contains(key)) << key;
    EXPECT_TRUE(j["confusion"].contains(key)) << key;
  }
  EXPECT_TRUE(j.contains("relations"));
  EXPECT_TRUE(j["position_error"].contains("mean"));
  EXPECT_GT(j["oracle_program_questions"].get<int>(), 0);
}

// --flip: about half the images come mirrored, each with its object mask and centres mirrored the same way
// (checked against the unflipped batch mirrored here); attributes stay; the run records the option.
TEST(SceneParserTraining, FlipMirrorsImageMaskAndCentresTogether) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = vqa::testing::makeImages(dir + "/data", "train", 8, 7, 2, /*masks=*/true);
  SceneDataset dataset = openSceneDataset(data, "train");
  const std::vector<int> all = {0, 1, 2, 3, 4, 5, 6, 7};
  LoaderOptions lo;
  lo.object_ids = true;
  lo.seed = 4;
  const SceneBatch plain = buildSceneBatch(dataset, all, lo, 3);
  lo.flip = true;
  const SceneBatch mirrored = buildSceneBatch(dataset, all, lo, 3);
  ASSERT_EQ(mirrored.flipped.size(), all.size());
  int flips = 0;
  for (size_t b = 0; b < all.size(); ++b) {
    const bool f = mirrored.flipped[b];
    flips += f;
    EXPECT_FALSE(plain.flipped[b]);
    const int64_t i = static_cast<int64_t>(b);
    EXPECT_TRUE(at::equal(mirrored.images[i], f ? plain.images[i].flip({2}) : plain.images[i])) << b;
    EXPECT_TRUE(at::equal(mirrored.object_ids[i], f ? plain.object_ids[i].flip({2}) : plain.object_ids[i])) << b;
    EXPECT_TRUE(at::equal(mirrored.labels[i], plain.labels[i])) << b;
    const auto& scene = dataset.records[b].scene;
    for (int k = 0; k < scene.size(); ++k) {
      const double x = scene.object(k).pixel[0];
      EXPECT_FLOAT_EQ(mirrored.centers[i][k][0].item<float>(), static_cast<float>(f ? 239 - x : x)) << b << " " << k;
      EXPECT_FLOAT_EQ(mirrored.centers[i][k][1].item<float>(), plain.centers[i][k][1].item<float>());
    }
  }
  EXPECT_GT(flips, 0);
  EXPECT_LT(flips, 8);
  EXPECT_EQ(buildSceneBatch(dataset, all, lo, 3).flipped, mirrored.flipped) << "the seed and step decide";

  TrainVisionOptions o = tinyTraining(data, dir + "/model.bin");
  o.steps = 2;
  o.flip = true;
  std::ostringstream log;
  trainSceneParser(o, log);
  EXPECT_EQ(readModelFile(dir + "/model.bin", kSceneParserKind, kSceneParserFormatVersion).header["training"]["flip"],
            true);
}

// --crop-mask: the loader hands the generator's masks over unchanged (nearest-neighbour at the image size the
// parser takes), the visible-mask loss is logged and drops as the parser trains, evaluation counts each object's
// visible pixels right, a damaged mask or a dataset without masks is a one-line error naming it.
TEST(SceneParserTraining, CropMaskLearnsFromTheGeneratorsMasks) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = vqa::testing::makeImages(dir + "/data", "train", 8, 7, 2, /*masks=*/true);
  SceneDataset dataset = openSceneDataset(data, "train");
  ASSERT_EQ(dataset.masks_dir, data + "/masks/train");
  LoaderOptions lo;
  lo.image_scale = 2;
  lo.object_ids = true;
  SceneBatch batch = buildSceneBatch(dataset, {0, 1}, lo, 0);
  ASSERT_EQ(batch.object_ids.sizes(), (std::vector<int64_t>{2, 1, 320, 480}));
  for (int b = 0; b < 2; ++b) {
    cv::Mat mask = cv::imread(dataset.records[size_t(b)].mask_path, cv::IMREAD_UNCHANGED);  // 240x160
    ASSERT_EQ(mask.cols, 240);
    at::Tensor ids = batch.object_ids[b][0];
    int differ = 0;
    for (int y = 0; y < mask.rows; ++y)
      for (int x = 0; x < mask.cols; ++x)
        differ += ids[2 * y][2 * x].item<float>() != mask.at<uint8_t>(y, x);
    EXPECT_EQ(differ, 0) << "image " << b;
    EXPECT_GT(cv::countNonZero(mask), 0);
  }

  TrainVisionOptions o = tinyTraining(data, dir + "/model.bin");
  o.steps = 60;
  o.model.crop_mask = true;
  std::ostringstream log;
  trainSceneParser(o, log);
  std::vector<double> mask_losses;
  std::ifstream in(dir + "/model.bin.metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) mask_losses.push_back(j.at("mask").get<double>());
  }
  ASSERT_EQ(mask_losses.size(), 60u);
  double first = 0, last = 0;
  for (size_t k = 0; k < 5; ++k) first += mask_losses[k] / 5, last += mask_losses[mask_losses.size() - 1 - k] / 5;
  EXPECT_LT(last, 0.8 * first) << "first " << first << " last " << last;
  EXPECT_NE(log.str().find(" mask "), std::string::npos);
  LoadedSceneParser trained = loadSceneParser(dir + "/model.bin");
  EXPECT_TRUE(trained.parser->options().crop_mask);

  // With masks in the data, evaluation breaks recall and attributes down by visible pixels (at 480x320); the
  // objects per band match a count straight from the mask files (240x160 here: each pixel counts 4).
  SceneEvaluation evaluation;
  nlohmann::json j = evaluateSceneParser(trained.parser, dataset, EvaluateOptions(), {}, &evaluation);
  ASSERT_TRUE(j.contains("by_visible_pixels"));
  std::vector<long> expected(SceneEvaluation::kVisibleBands.size(), 0);
  for (const auto& r : dataset.records) {
    cv::Mat mask = cv::imread(r.mask_path, cv::IMREAD_UNCHANGED);
    for (int i = 0; i < r.scene.size(); ++i) {
      const double pixels = 4.0 * cv::countNonZero(mask == i + 1);
      size_t k = 0;
      while (k + 1 < expected.size() && pixels >= SceneEvaluation::kVisibleBands[k + 1]) ++k;
      ++expected[k];
    }
  }
  long matched = 0;
  for (size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(j["by_visible_pixels"][k]["annotated"].get<long>(), expected[k]) << "band " << k;
    matched += j["by_visible_pixels"][k]["matched"].get<long>();
  }
  EXPECT_EQ(matched, j["detection"]["matched"].get<long>());
  EXPECT_NE(evaluation.summary().find("visible px 0-400"), std::string::npos) << evaluation.summary();

  // A damaged mask is a one-line error naming it.
  const std::string first_mask = dataset.records[0].mask_path;
  cv::imwrite(first_mask, cv::Mat(10, 15, CV_8UC1, cv::Scalar(0)));
  try {
    buildSceneBatch(dataset, {0}, lo, 0);
    ADD_FAILURE() << "a mask of the wrong size was read";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), first_mask + ": 15x10, but its image is 240x160");
  }
  std::filesystem::remove(first_mask);
  EXPECT_THROW(buildSceneBatch(dataset, {0}, lo, 0), std::runtime_error);

  std::filesystem::remove_all(data + "/masks");
  o.out_path = dir + "/other.bin";
  try {
    trainSceneParser(o, log);
    ADD_FAILURE() << "a dataset without masks trained a crop mask";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), data + "/masks/train: no object masks, which the crop mask learns from (write "
                                            "them with vqa generate --masks)");
  }
}

TEST(SceneParserTraining, ResumedRunEqualsUninterruptedRun) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = generateImages(dir + "/data", 6);
  TrainVisionOptions straight = tinyTraining(data, dir + "/straight.bin");
  straight.steps = 8;
  std::ostringstream log;
  trainSceneParser(straight, log);

  TrainVisionOptions first = tinyTraining(data, dir + "/resumed.bin");
  first.steps = 8;
  first.stop_at = 3;
  EXPECT_EQ(trainSceneParser(first, log).steps, 3);
  TrainVisionOptions second = tinyTraining(data, dir + "/resumed.bin");
  second.resume = true;
  second.model.channels = 99;  // ignored: a resumed run keeps the checkpoint's options
  TrainVisionResult r = trainSceneParser(second, log);
  EXPECT_EQ(r.start_step, 3);
  EXPECT_EQ(r.steps, 8);

  ModelFile a = readModelFile(dir + "/straight.bin", kSceneParserKind, kSceneParserFormatVersion);
  ModelFile b = readModelFile(dir + "/resumed.bin", kSceneParserKind, kSceneParserFormatVersion);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].first, b.tensors[i].first);
    EXPECT_TRUE(at::equal(a.tensors[i].second, b.tensors[i].second)) << a.tensors[i].first;
  }
  EXPECT_EQ(a.header["training"]["step"], 8);
  EXPECT_EQ(loggedLosses(dir + "/straight.bin.metrics.jsonl"), loggedLosses(dir + "/resumed.bin.metrics.jsonl"));
}

TEST(SceneParserCommands, BadOptionsAndFilesAreOneLineErrors) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = generateImages(dir + "/data", 2, "val");
  auto r = vqa::testing::runVqa("train-vision --data " + data + " --out " + dir + "/m.bin --batch-size 0");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(vqa::testing::errorLine(r), "--batch-size: must be in [1, 1024] (got 0)");
  r = vqa::testing::runVqa("train-vision --data " + dir + "/nowhere --out " + dir + "/m.bin --steps 1");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(vqa::testing::errorLine(r).find("nowhere/scenes/CLEVR_train_scenes.json"), std::string::npos);
  vqa::testing::writeFile(dir + "/cut.bin", "VQA-MODEL\n\x10");
  r = vqa::testing::runVqa("eval-scenes --model " + dir + "/cut.bin --data " + data);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(vqa::testing::errorLine(r), dir + "/cut.bin: truncated model file (no header)");
  // A scene record whose image is missing: an error naming it, or skipped with --allow-missing.
  SceneParser parser(vqa::testing::tinySceneParserOptions());
  saveSceneParser(dir + "/m.bin", parser);
  std::filesystem::remove(data + "/images/val/CLEVR_val_000001.png");
  r = vqa::testing::runVqa("eval-scenes --model " + dir + "/m.bin --data " + data);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(vqa::testing::errorLine(r).find("scene 1 (CLEVR_val_000001.png): image"), std::string::npos) << r.err;
  r = vqa::testing::runVqa("eval-scenes --model " + dir + "/m.bin --data " + data + " --allow-missing --json " + dir + "/e.json");
  EXPECT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(vqa::testing::readText(dir + "/e.json"));
  EXPECT_EQ(j["images"], 1);
  EXPECT_EQ(j["missing_images"], 1);
  // --detection-threshold overrides the model's: near 0 every one of the 12 slots is an object.
  r = vqa::testing::runVqa("eval-scenes --model " + dir + "/m.bin --data " + data +
                           " --allow-missing --detection-threshold 1e-9 --json " + dir + "/all.json --scenes-out " +
                           dir + "/predicted.json");
  EXPECT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(vqa::testing::readText(dir + "/all.json"));
  EXPECT_EQ(j["detection_threshold"], 1e-9);
  EXPECT_EQ(j["detection"]["predicted"], parser->options().max_objects);
  // --scenes-out: the predicted scene of the one evaluated image, readable as CLEVR scenes.
  const auto predicted = vqa::readClevrScenes(dir + "/predicted.json");
  ASSERT_EQ(predicted.scenes.size(), 1u);
  EXPECT_EQ(predicted.scenes[0].image_filename, "CLEVR_val_000000.png");
  EXPECT_EQ(predicted.scenes[0].size(), parser->options().max_objects);
  r = vqa::testing::runVqa("eval-scenes --model " + dir + "/m.bin --data " + data + " --detection-threshold 1.5");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(vqa::testing::errorLine(r), "--detection-threshold: detection threshold: must be in (0, 1)");
}
