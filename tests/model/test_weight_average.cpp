// Tests of `vqa average`: the averaged scene parser or engine holds, tensor for tensor, the mean of its inputs' files
// (computed here from the files' raw tensors), loads like any model and answers; models of another kind,
// another architecture or a quantized engine are one-line errors that write nothing.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <string>

#include "generated_images.h"
#include "model/engine_model.h"
#include "test_support.h"
#include "tiny_scene_parser.h"
#include "training/model_file.h"
#include "vision/trainer.h"

namespace vqa::model {
namespace {

using vqa::testing::errorLine;
using vqa::testing::runVqa;

// Every floating tensor of `averaged` against the mean of the same tensor in `a` and `b`; returns how many were
// compared. Integer tensors must equal a's.
int expectMeanOf(const training::ModelFile& averaged, const training::ModelFile& a, const training::ModelFile& b) {
  int compared = 0;
  for (const auto& [name, t] : averaged.tensors) {
    const at::Tensor* x = a.find(name);
    const at::Tensor* y = b.find(name);
    EXPECT_TRUE(x && y) << name;
    if (!x || !y) continue;
    if (t.is_floating_point()) {
      EXPECT_TRUE(at::allclose(t, (x->to(at::kDouble) + y->to(at::kDouble)).div(2).to(t.scalar_type()), 1e-6, 1e-7))
          << name;
      ++compared;
    } else {
      EXPECT_TRUE(at::equal(t, *x)) << name;
    }
  }
  return compared;
}

TEST(AverageCommand, ParsersAndEnginesAverageTensorForTensorWithOneLineErrors) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string data = vqa::testing::makeImages(dir + "/data", "train", 6, 43);
  vision::SceneParserOptions tiny = vqa::testing::tinySceneParserOptions();
  tiny.crop_size = 16;
  tiny.detection_threshold = 0.05;  // untrained: its peaks count as objects
  at::manual_seed(1);
  vision::SceneParser p1(tiny);
  at::manual_seed(2);
  vision::SceneParser p2(tiny);
  vision::saveSceneParser(dir + "/p1.bin", p1);
  vision::saveSceneParser(dir + "/p2.bin", p2);

  auto r = runVqa("average --out " + dir + "/p.bin " + dir + "/p1.bin " + dir + "/p2.bin");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto p = vision::loadSceneParser(dir + "/p.bin");
  const auto f1 = training::readModelFile(dir + "/p1.bin", vision::kSceneParserKind, vision::kSceneParserFormatVersion);
  const auto f2 = training::readModelFile(dir + "/p2.bin", vision::kSceneParserKind, vision::kSceneParserFormatVersion);
  EXPECT_EQ(p.file.tensors.size(), f1.tensors.size());
  EXPECT_GT(expectMeanOf(p.file, f1, f2), 20);
  EXPECT_EQ(p.file.header["options"], f1.header["options"]);

  // Two engines from one parser and the same questions, trained for different numbers of steps; their average
  // loads and answers.
  for (const char* steps : {"4", "6"}) {
    r = runVqa("train --scene vision --data " + data + " --out " + dir + "/e" + steps + ".bin --vision " + dir +
               "/p1.bin --programs 20 --warm-steps " + steps + " --rounds 0 --model-size 16 --heads 2 --layers 1"
               " --val-questions 0 --threads 1");
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  r = runVqa("average --out " + dir + "/e.bin " + dir + "/e4.bin " + dir + "/e6.bin");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto e = loadEngineModel(dir + "/e.bin");
  const auto e1 = training::readModelFile(dir + "/e4.bin", kEngineModelKind, kEngineModelFormatVersion);
  const auto e2 = training::readModelFile(dir + "/e6.bin", kEngineModelKind, kEngineModelFormatVersion);
  EXPECT_GT(expectMeanOf(e.file, e1, e2), 20);
  EXPECT_FALSE(e.file.header.contains("training"));  // a new model, not a checkpoint to resume
  r = runVqa("ask --model " + dir + "/e.bin --image " + data +
             "/images/train/CLEVR_train_000000.png \"How many cubes are there?\"");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("answer: "), std::string::npos) << r.out;

  // Bad input: one line each, rc 1, nothing written.
  const std::string never = "average --out " + dir + "/never.bin ";
  r = runVqa(never + dir + "/p1.bin");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), "average: give at least two models");
  r = runVqa(never + dir + "/p1.bin " + dir + "/e4.bin");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r),
            dir + "/e4.bin: is a 'vqa-model' model, not a 'vqa-scene-parser' model as " + dir + "/p1.bin");
  tiny.crop_size = 32;
  vision::SceneParser wide(tiny);
  vision::saveSceneParser(dir + "/wide.bin", wide);
  r = runVqa(never + dir + "/p1.bin " + dir + "/wide.bin");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), dir + "/wide.bin: differs from " + dir + "/p1.bin in its scene parser options (only models "
                              "of one architecture and training data can be averaged)");
  r = runVqa("quantize --model " + dir + "/e4.bin --data " + data + " --out " + dir + "/q.bin --calibration-images 2"
             " --calibration-questions 10 --threads 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = runVqa(never + dir + "/e4.bin " + dir + "/q.bin");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find(dir + "/q.bin: a quantized model cannot be"), std::string::npos) << r.err;
  r = runVqa(never + dir + "/p1.bin " + dir + "/missing.bin");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(errorLine(r), dir + "/missing.bin: model file not found");
  EXPECT_FALSE(std::filesystem::exists(dir + "/never.bin"));
}

}  // namespace
}  // namespace vqa::model
