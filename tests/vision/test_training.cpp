// Training the scene parser on a handful of generated images: the loss drops, an interrupted run resumed
// from its checkpoint ends bit for bit where an uninterrupted one does, evaluation reports every key, and
// the commands turn bad options and files into one-line errors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <functional>
#include <sstream>

#include "core/vocab.h"
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

namespace {

// Eight generated images with their object masks, and loader options that read the masks.
struct MaskedImages {
  std::string dir = vqa::testing::scratchDir();
  std::string data = vqa::testing::makeImages(dir + "/data", "train", 8, 7, 2, /*masks=*/true);
  SceneDataset dataset = openSceneDataset(data, "train");
  // The batch of all eight at step 3, reading the masks, with seed 4 and `set` applied to the options.
  SceneBatch batch(const std::function<void(LoaderOptions&)>& set = [](LoaderOptions&) {},
                   const std::vector<int>& images = {0, 1, 2, 3, 4, 5, 6, 7}) const {
    LoaderOptions lo;
    lo.object_ids = true;
    lo.seed = 4;
    set(lo);
    return buildSceneBatch(dataset, images, lo, 3);
  }
};

// The training record of a 2-step run on the images with `set` applied to its options.
nlohmann::json trainingRecord(const MaskedImages& m, const std::function<void(TrainVisionOptions&)>& set) {
  TrainVisionOptions o = tinyTraining(m.data, m.dir + "/model.bin");
  o.steps = 2;
  set(o);
  std::ostringstream log;
  trainSceneParser(o, log);
  return readModelFile(m.dir + "/model.bin", kSceneParserKind, kSceneParserFormatVersion).header["training"];
}

}  // namespace

// --flip: about half the images come mirrored, each with its object mask and centres mirrored the same way
// (checked against the unflipped batch mirrored here); attributes stay; the run records the option.
TEST(SceneParserTraining, FlipMirrorsImageMaskAndCentresTogether) {
  const MaskedImages m;
  const SceneDataset& dataset = m.dataset;
  const auto flip = [](LoaderOptions& lo) { lo.flip = true; };
  const SceneBatch plain = m.batch(), mirrored = m.batch(flip);
  ASSERT_EQ(mirrored.flipped.size(), 8u);
  int flips = 0;
  for (size_t b = 0; b < 8; ++b) {
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
  EXPECT_EQ(m.batch(flip).flipped, mirrored.flipped) << "the seed and step decide";

  EXPECT_EQ(trainingRecord(m, [](TrainVisionOptions& o) { o.flip = true; })["flip"], true);
}

namespace {
// The checks every pasted batch passes, against the plain batches of both images: outside the pasted pixels
// nothing changes; the pasted pixels are the other image's own, where its mask shows that object, and never over
// a nearer object; every object keeps CLEVR's minimum visible pixels (200 at 480x320, 50 here); the new object's
// centre, labels and mask value follow it. Returns the number of pasted objects.
size_t checkPastedBatch(const MaskedImages& m, const SceneBatch& plain, const SceneBatch& pasted) {
  const SceneDataset& dataset = m.dataset;
  EXPECT_EQ(pasted.pasted.size(), 8u);
  const int64_t min_pixels = 200 * 240 * 160 / (480 * 320);
  size_t total = 0;
  for (size_t b = 0; b < pasted.pasted.size(); ++b) {
    const int64_t i = static_cast<int64_t>(b);
    const auto& scene = dataset.records[b].scene;
    const int64_t own = scene.size();
    const auto& list = pasted.pasted[b];
    total += list.size();
    EXPECT_TRUE(plain.pasted[b].empty());
    EXPECT_LE(own + static_cast<int64_t>(list.size()), 10);
    const at::Tensor ids = pasted.object_ids[i][0], ids0 = plain.object_ids[i][0];
    const at::Tensor kept = (ids <= own).to(at::kFloat);
    EXPECT_TRUE(at::equal(pasted.images[i] * kept, plain.images[i] * kept)) << b;
    EXPECT_TRUE(at::equal(ids * kept, ids0 * kept)) << b;
    EXPECT_EQ(pasted.mask[i].sum().item<int64_t>(), own + static_cast<int64_t>(list.size()));
    for (size_t k = 0; k < list.size(); ++k) {
      const auto [d, j] = list[k];
      EXPECT_NE(d, static_cast<int>(b));
      const SceneBatch donor = m.batch([](LoaderOptions&) {}, {d});
      const int64_t slot = own + static_cast<int64_t>(k);
      const at::Tensor region = ids == static_cast<float>(slot + 1);
      EXPECT_GE(region.sum().item<int64_t>(), min_pixels) << b << " " << k;
      const at::Tensor r = region.to(at::kFloat);
      EXPECT_TRUE(at::equal(pasted.images[i] * r, donor.images[0] * r)) << b << " " << k;
      EXPECT_TRUE(((donor.object_ids[0][0] == static_cast<float>(j + 1)) | ~region).all().item<bool>());
      const auto& object = dataset.records[static_cast<size_t>(d)].scene.object(j);
      for (int64_t o = 0; o < own; ++o)
        if ((region & (ids0 == static_cast<float>(o + 1))).any().item<bool>()) {
          EXPECT_GT(scene.object(static_cast<int>(o)).pixel[2], object.pixel[2]) << "pasted over a nearer object";
        }
      EXPECT_FLOAT_EQ(pasted.centers[i][slot][0].item<float>(), static_cast<float>(object.pixel[0]));
      EXPECT_FLOAT_EQ(pasted.centers[i][slot][1].item<float>(), static_cast<float>(object.pixel[1]));
      for (auto a : vqa::clevr::attributes())
        EXPECT_EQ(pasted.labels[i][slot][static_cast<int>(a)].item<int64_t>(),
                  vqa::clevr::valueIndex(a, object.attributes.at(vqa::clevr::attributeName(a))));
    }
    for (int64_t o = 0; o < own; ++o) {
      const int64_t before = (ids0 == static_cast<float>(o + 1)).sum().item<int64_t>();
      const int64_t after = (ids == static_cast<float>(o + 1)).sum().item<int64_t>();
      EXPECT_TRUE(after == before || after >= min_pixels) << b << " " << o << ": " << before << " -> " << after;
    }
  }
  return total;
}
}  // namespace

// --paste: some images get whole objects of other images of the split (checkPastedBatch); the seed and step
// decide; the run records the option.
TEST(SceneParserTraining, PasteCopiesWholeObjectsInDepthOrderWithTheirAnnotations) {
  const MaskedImages m;
  const auto paste = [](LoaderOptions& lo) { lo.paste = true; };
  const SceneBatch pasted = m.batch(paste);
  EXPECT_GT(checkPastedBatch(m, m.batch(), pasted), 0u);
  EXPECT_EQ(m.batch(paste).pasted, pasted.pasted) << "the seed and step decide";

  EXPECT_EQ(trainingRecord(m, [](TrainVisionOptions& o) { o.paste = true; })["paste"], true);
}

// --paste-occlude: the pastes pass every check of --paste, and each one meets an object already there on screen:
// its whole shape in its own image overlaps the visible pixels of one of the image's objects or of an earlier
// paste (it hides part of that object or is partly hidden by it). Without --paste the option is an error.
TEST(SceneParserTraining, PasteOccludeKeepsOnlyPastesThatOverlapAnObject) {
  const MaskedImages m;
  const SceneBatch plain = m.batch();
  // Steps 3 to 6: enough pastes to see (overlapping places are rare among eight small scenes).
  size_t total = 0;
  for (int64_t step = 3; step < 7; ++step) {
    LoaderOptions lo;
    lo.object_ids = lo.paste = lo.paste_occlude = true;
    lo.seed = 4;
    const SceneBatch pasted = buildSceneBatch(m.dataset, {0, 1, 2, 3, 4, 5, 6, 7}, lo, step);
    total += checkPastedBatch(m, plain, pasted);
    for (size_t b = 0; b < 8; ++b) {
      at::Tensor there = plain.object_ids[static_cast<int64_t>(b)][0] > 0;  // the image's own visible pixels
      for (const auto& [d, j] : pasted.pasted[b]) {
        const at::Tensor shape = m.batch([](LoaderOptions&) {}, {d}).object_ids[0][0] == static_cast<float>(j + 1);
        EXPECT_TRUE((shape & there).any().item<bool>()) << "image " << b << ": a paste that meets nothing";
        there = there | shape;
      }
    }
  }
  EXPECT_GT(total, 0u);

  TrainVisionOptions o = tinyTraining(m.data, m.dir + "/model.bin");
  o.paste_occlude = true;
  try {
    checkTrainVisionOptions(o);
    ADD_FAILURE() << "--paste-occlude without --paste was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "--paste-occlude: goes with --paste");
  }
  EXPECT_EQ(trainingRecord(m, [](TrainVisionOptions& t) { t.paste = t.paste_occlude = true; })["paste_occlude"], true);
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
