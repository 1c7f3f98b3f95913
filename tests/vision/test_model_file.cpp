// The scene parser's model file: exact round trip, BatchNorm folding, and one-line errors for truncated,
// corrupt, foreign and wrong-version files.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <utility>
#include <vector>

#include "test_support.h"
#include "tiny_scene_parser.h"
#include "training/model_file.h"
#include "vision/trainer.h"

using namespace vqa::vision;
using namespace vqa::training;

namespace {
std::string loadError(const std::string& path) {
  try {
    loadSceneParser(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no error";
}

// The crop-mask loss of a crop-mask parser for two slots near the middle of the image (where their crops lie
// inside it; `slots` says which hold objects), with the mask head's output fixed at `logit` everywhere and every
// pixel showing object id `id` (no object ids at all when !with_ids).
double cropMaskLoss(SceneParser& parser, double logit, float id, std::vector<float> slots, bool with_ids = true) {
  const SceneParserOptions& o = parser->options();
  const int64_t H = o.imageHeight(), W = o.imageWidth();
  at::Tensor images = at::rand({1, 3, H, W});
  at::Tensor heatmap = at::zeros({1, 1, o.input_height / 4, o.input_width / 4});
  at::Tensor centers = at::tensor({110.0f, 80.0f, 130.0f, 84.0f}).view({1, 2, 2});
  at::Tensor labels = at::zeros({1, 2, 4}, at::kLong);
  torch::NoGradGuard no_grad;
  parser->named_parameters()["crop_mask_out.weight"].zero_();
  parser->named_parameters()["crop_mask_out.bias"].fill_(logit);
  at::Tensor ids = with_ids ? at::full({1, 1, H, W}, id) : at::Tensor();
  return parser->losses(images, heatmap, centers, labels, at::tensor(slots).view({1, 2}), ids).mask.item<double>();
}
}  // namespace

TEST(ModelFile, SaveLoadRoundTripIsExact) {
  const std::string dir = vqa::testing::scratchDir();
  SceneParserOptions options = vqa::testing::tinySceneParserOptions();
  options.attention = "clipped";
  SceneParser parser(options);
  parser->eval();
  saveSceneParser(dir + "/model.bin", parser);
  LoadedSceneParser loaded = loadSceneParser(dir + "/model.bin");
  EXPECT_EQ(loaded.parser->options().attention, "clipped");
  EXPECT_EQ(loaded.file.header["kind"], kSceneParserKind);
  EXPECT_EQ(loaded.file.header["vocabularies"]["color"].size(), 8u);
  auto original = parser->named_parameters();
  for (auto& p : loaded.parser->named_parameters()) EXPECT_TRUE(at::equal(p.value(), original[p.key()])) << p.key();
  torch::NoGradGuard no_grad;
  at::Tensor images = at::rand({2, 3, options.imageHeight(), options.imageWidth()});
  SceneParse a = parser->parse(images), b = loaded.parser->parse(images);
  EXPECT_TRUE(at::equal(a.scene.mask, b.scene.mask));
  EXPECT_TRUE(at::equal(a.scene.positions, b.scene.positions));
  a.scene.checkShapes();
  EXPECT_EQ(a.scene.relations.sizes(), (std::vector<int64_t>{2, 4, 12, 12}));
}

// A parser with the crop branch, warm-started from one without, parses as that one does (the branch starts at
// zero and the backbone sees the 2x2 mean of the full-resolution image); crops change the result once trained.
TEST(ModelFile, CropParserWarmStartedFromAPlainOneParsesAlike) {
  const std::string dir = vqa::testing::scratchDir();
  SceneParserOptions plain_options = vqa::testing::tinySceneParserOptions();
  plain_options.crop_size = 0;
  plain_options.detection_threshold = 1e-6;  // every slot counts as an object, so every slot is cropped
  SceneParser plain(plain_options);
  plain->eval();
  saveSceneParser(dir + "/plain.bin", plain);
  ModelFile file = readModelFile(dir + "/plain.bin", vqa::vision::kSceneParserKind, vqa::vision::kSceneParserFormatVersion);
  SceneParserOptions crop_options = vqa::testing::tinySceneParserOptions();
  crop_options.crop_size = 16;
  crop_options.detection_threshold = 1e-6;
  SceneParser crop(crop_options);
  crop->eval();
  const size_t copied = copyMatchingTensors(file, "model", *crop);
  EXPECT_EQ(copied, plain->named_parameters().size() + plain->named_buffers().size());
  EXPECT_LT(copied, crop->named_parameters().size() + crop->named_buffers().size());
  torch::NoGradGuard no_grad;
  at::Tensor full = at::rand({2, 3, 320, 480});
  at::Tensor half = full.view({2, 3, 160, 2, 240, 2}).mean({3, 5});
  SceneParse a = plain->parse(half), b = crop->parse(full);
  EXPECT_TRUE(at::allclose(a.scene.mask, b.scene.mask, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(a.centers, b.centers, 1e-4, 1e-4));
  for (size_t g = 0; g < a.scene.attributes.size(); ++g)
    EXPECT_TRUE(at::allclose(a.scene.attributes[g], b.scene.attributes[g], 1e-4, 1e-6)) << g;
  // Once the crop branch's output layer is not zero, the crops reach the attributes.
  for (auto& p : crop->named_parameters())
    if (p.key().rfind("crop_out.", 0) == 0) p.value().normal_(0.0, 1.0);
  SceneParse c = crop->parse(full);
  EXPECT_FALSE(at::allclose(a.scene.attributes[0], c.scene.attributes[0], 1e-4, 1e-6));
}

// The crop read-out: "grid" (the default) feeds the crop CNN's 4x4 map to the output layer, "mean" its
// average; options written before the choice existed read as "mean", the read-out those parsers had.
TEST(ModelFile, CropReadoutIsRecordedAndOldOptionsReadAsMean) {
  SceneParserOptions options = vqa::testing::tinySceneParserOptions();
  options.crop_size = 16;
  EXPECT_EQ(options.crop_readout, "grid");
  SceneParser grid(options);
  options.crop_readout = "mean";
  SceneParser mean(options);
  const int64_t features = 4 * 16;  // the crop CNN's last width: 4 x max(16, channels)
  EXPECT_EQ(grid->named_parameters()["crop_out.weight"].size(1), features * 16);
  EXPECT_EQ(mean->named_parameters()["crop_out.weight"].size(1), features);
  nlohmann::json j = grid->options().toJson();
  EXPECT_EQ(SceneParserOptions::fromJson(j).crop_readout, "grid");
  j.erase("crop_readout");
  EXPECT_EQ(SceneParserOptions::fromJson(j).crop_readout, "mean");
  j["crop_readout"] = "max";
  try {
    SceneParserOptions::fromJson(j);
    ADD_FAILURE() << "an unknown read-out was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "crop read-out: must be grid or mean (got max)");
  }
  // Both parse a batch; their crops reach the attributes once the output layer is not zero.
  torch::NoGradGuard no_grad;
  at::Tensor images = at::rand({1, 3, options.imageHeight(), options.imageWidth()});
  for (SceneParser* p : {&grid, &mean}) {
    (*p)->eval();
    (*p)->setDetectionThreshold(1e-6);
    SceneParse before = (*p)->parse(images);
    (*p)->named_parameters()["crop_out.weight"].normal_(0.0, 1.0);
    SceneParse after = (*p)->parse(images);
    EXPECT_FALSE(at::allclose(before.scene.attributes[1], after.scene.attributes[1], 1e-4, 1e-6));
  }
}

// The crop mask: recorded in the options (files without the key have none), one more read-out block, and a
// loss whose target is, per crop cell, the share of pixels showing the slot's own object (id = slot + 1).
// With the mask head's output fixed at a logit of -8 or +8 everywhere, the loss is 8 times the share of cells
// it gets wrong: all of them or none, as the object ids say.
TEST(ModelFile, CropMaskIsRecordedAndLearnsTheSlotsOwnPixels) {
  SceneParserOptions options = vqa::testing::tinySceneParserOptions();
  options.crop_size = 16;
  options.crop_mask = true;
  SceneParser parser(options);
  const int64_t features = 4 * 16;
  EXPECT_EQ(parser->named_parameters()["crop_out.weight"].size(1), features * 17);
  nlohmann::json j = parser->options().toJson();
  EXPECT_TRUE(SceneParserOptions::fromJson(j).crop_mask);
  j.erase("crop_mask");
  EXPECT_FALSE(SceneParserOptions::fromJson(j).crop_mask);
  j["crop_mask"] = true;
  j["crop_size"] = 0;
  try {
    SceneParserOptions::fromJson(j);
    ADD_FAILURE() << "a crop mask without crops was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "crop mask: needs the crop branch (a crop size > 0)");
  }

  EXPECT_NEAR(cropMaskLoss(parser, -8, 1, {1, 0}), 8.0, 0.01);  // slot 0 sees only object 0: "not its own" all wrong
  EXPECT_NEAR(cropMaskLoss(parser, 8, 1, {1, 0}), 0.0, 0.01);
  EXPECT_NEAR(cropMaskLoss(parser, -8, 2, {1, 0}), 0.0, 0.01);  // object 1 everywhere: none of slot 0's own
  EXPECT_NEAR(cropMaskLoss(parser, 8, 2, {1, 0}), 8.0, 0.01);
  EXPECT_NEAR(cropMaskLoss(parser, -8, 2, {0, 1}), 8.0, 0.01);  // slot 1's own object is 1 (id 2)
  EXPECT_NEAR(cropMaskLoss(parser, -8, 2, {1, 1}), 4.0, 0.01);  // half the crops wrong
  EXPECT_EQ(cropMaskLoss(parser, -8, 2, {1, 1}, /*with_ids=*/false), 0.0);  // no ids: no mask loss
}

// The crop stem: recorded in the options (files without the key have the full-resolution stem); the
// space-to-depth stem reads 2x2 pixel blocks as 12 channels in one convolution fewer, and everything after it
// (read-out width, the mask at a quarter of the crop's side) is as with the full stem.
TEST(ModelFile, SpaceToDepthCropStemKeepsTheCropBranchsShapes) {
  SceneParserOptions options = vqa::testing::tinySceneParserOptions();
  options.crop_size = 16;
  options.crop_mask = true;
  SceneParser full(options);
  options.crop_stem = "space-to-depth";
  SceneParser s2d(options);
  auto fp = full->named_parameters(), sp = s2d->named_parameters();
  EXPECT_EQ(fp["crop_convs.0.weight"].size(1), 3);
  EXPECT_EQ(sp["crop_convs.0.weight"].size(1), 12);
  EXPECT_TRUE(fp.contains("crop_convs.5.weight"));
  EXPECT_FALSE(sp.contains("crop_convs.5.weight"));
  EXPECT_EQ(sp["crop_out.weight"].sizes(), fp["crop_out.weight"].sizes());
  nlohmann::json j = s2d->options().toJson();
  EXPECT_EQ(SceneParserOptions::fromJson(j).crop_stem, "space-to-depth");
  j.erase("crop_stem");
  EXPECT_EQ(SceneParserOptions::fromJson(j).crop_stem, "full");
  j["crop_stem"] = "strided";
  try {
    SceneParserOptions::fromJson(j);
    ADD_FAILURE() << "an unknown crop stem was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "crop stem: must be full or space-to-depth (got strided)");
  }
  // Both give a mask loss of 8 when the mask head says "not its own" everywhere and every pixel is the slot's.
  EXPECT_NEAR(cropMaskLoss(full, -8, 1, {1, 0}), 8.0, 0.01);
  EXPECT_NEAR(cropMaskLoss(s2d, -8, 1, {1, 0}), 8.0, 0.01);
}

// --crop-window sets each crop's side in scene units: half the window samples the same centre over half the span;
// the option is recorded, files from before it read as 2.8, and a window outside [1, 8] is a one-line error.
TEST(ModelFile, CropWindowScalesEachSlotsCropAboutItsCentre) {
  SceneParserOptions options = vqa::testing::tinySceneParserOptions();
  options.crop_size = 16;
  options.crop_mask = true;
  EXPECT_EQ(options.crop_window, 2.8);
  at::manual_seed(4);
  SceneParser wide(options);
  options.crop_window = 1.4;
  SceneParser narrow(options);
  torch::NoGradGuard no_grad;
  wide->eval();
  narrow->eval();
  at::Tensor images = at::rand({1, 3, options.imageHeight(), options.imageWidth()});
  at::Tensor centers = at::tensor({60.0f, 90.0f, 170.0f, 120.0f}).view({1, 2, 2});
  at::Tensor mask = at::ones({1, 2});
  at::Tensor g_wide = wide->slots(wide->dense(images).features, centers, mask, images).crop_grid;
  at::Tensor g_narrow = narrow->slots(narrow->dense(images).features, centers, mask, images).crop_grid;
  ASSERT_EQ(g_wide.sizes(), (std::vector<int64_t>{1, 2, 16, 16, 2}));
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t axis = 0; axis < 2; ++axis) {
      at::Tensor a = g_wide[0][n].select(-1, axis), b = g_narrow[0][n].select(-1, axis);
      EXPECT_NEAR((b.max() - b.min()).item<double>() / (a.max() - a.min()).item<double>(), 0.5, 1e-5);
      EXPECT_NEAR(b.mean().item<double>(), a.mean().item<double>(), 1e-5);
    }
  }
  nlohmann::json j = narrow->options().toJson();
  EXPECT_EQ(SceneParserOptions::fromJson(j).crop_window, 1.4);
  j.erase("crop_window");
  EXPECT_EQ(SceneParserOptions::fromJson(j).crop_window, 2.8);
  j["crop_window"] = 0.5;
  try {
    SceneParserOptions::fromJson(j);
    ADD_FAILURE() << "a crop window of 0.5 was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "crop window: must be in [1, 8] scene units (got 0.500000)");
  }
}

// Folding each BatchNorm into its convolution (the form a quantized model is stored in) changes nothing the
// parser computes in eval mode; the folded parser has no norm layers and records that in its options.
TEST(ModelFile, FoldedNormsParseAsTheNormsDid) {
  at::manual_seed(21);
  SceneParserOptions options = vqa::testing::tinySceneParserOptions();
  options.crop_size = 16;
  options.crop_mask = true;  // its head has no norms: folding carries it over
  options.detection_threshold = 1e-6;  // every slot is cropped
  for (const char* stem : {"full", "space-to-depth"}) {
    SCOPED_TRACE(stem);
    options.crop_stem = stem;
    SceneParser parser(options);
    torch::NoGradGuard no_grad;
    // Norms with statistics and affine parameters far from the identity.
    for (auto& b : parser->named_buffers()) {
      if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0.0, 0.5);
      if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.2, 3.0);
    }
    for (auto& p : parser->named_parameters())
      if (p.key().find("norm") != std::string::npos) p.value().uniform_(0.5, 1.5);
    parser->eval();
    SceneParser folded = foldBatchNorms(*parser);
    EXPECT_TRUE(folded->options().folded_norms);
    for (auto& p : folded->named_parameters())
      for (const char* norm : {"norms.", "fuse_norm", "refine_norm"})
        EXPECT_EQ(p.key().find(norm), std::string::npos) << p.key();
    EXPECT_TRUE(SceneParserOptions::fromJson(folded->options().toJson()).folded_norms);
    at::Tensor images = at::rand({2, 3, options.imageHeight(), options.imageWidth()});
    DenseOutputs a = parser->dense(images), b = folded->dense(images);
    EXPECT_TRUE(at::allclose(a.heatmap_logits, b.heatmap_logits, 1e-4, 1e-4));
    EXPECT_TRUE(at::allclose(a.features, b.features, 1e-4, 1e-4));
    SceneParse pa = parser->parse(images), pb = folded->parse(images);
    for (size_t g = 0; g < pa.scene.attributes.size(); ++g)
      EXPECT_TRUE(at::allclose(pa.scene.attributes[g], pb.scene.attributes[g], 1e-4, 1e-5)) << g;
    EXPECT_THROW(foldBatchNorms(*folded), std::invalid_argument);
  }
}

TEST(ModelFile, DamagedAndForeignFilesAreOneLineErrors) {
  const std::string dir = vqa::testing::scratchDir();
  SceneParser parser(vqa::testing::tinySceneParserOptions());
  const std::string good = dir + "/model.bin";
  saveSceneParser(good, parser);
  const std::string bytes = vqa::testing::readText(good);

  vqa::testing::writeFile(dir + "/cut.bin", bytes.substr(0, bytes.size() - 100));
  EXPECT_NE(loadError(dir + "/cut.bin").find(dir + "/cut.bin: truncated model file"), std::string::npos);
  vqa::testing::writeFile(dir + "/cut_header.bin", bytes.substr(0, 30));
  EXPECT_NE(loadError(dir + "/cut_header.bin").find("truncated model file"), std::string::npos);
  std::string flipped = bytes;
  flipped[flipped.size() - 5] ^= 0x5a;
  vqa::testing::writeFile(dir + "/flipped.bin", flipped);
  EXPECT_EQ(loadError(dir + "/flipped.bin"), dir + "/flipped.bin: corrupt model file (checksum mismatch)");
  vqa::testing::writeFile(dir + "/text.bin", "hello");
  EXPECT_EQ(loadError(dir + "/text.bin"), dir + "/text.bin: not a vqa model file");
  EXPECT_EQ(loadError(dir + "/none.bin"), dir + "/none.bin: model file not found");

  writeModelFile(dir + "/other.bin", {{"kind", "vqa-program-parser"}, {"format_version", 1}}, {});
  EXPECT_EQ(loadError(dir + "/other.bin"),
            dir + "/other.bin: is a 'vqa-program-parser' model, not a 'vqa-scene-parser' model");
  writeModelFile(dir + "/future.bin", {{"kind", kSceneParserKind}, {"format_version", 99}}, {});
  EXPECT_EQ(loadError(dir + "/future.bin"),
            dir + "/future.bin: format version 99 is not supported (this build reads version 1)");
  for (const char* f : {"/cut.bin", "/flipped.bin", "/other.bin"}) EXPECT_EQ(loadError(dir + f).find('\n'), std::string::npos);

  // The kind alone is read from the header: a file cut inside its tensors still names it, one cut inside the
  // header or the magic line is the same one-line error as a full read.
  EXPECT_EQ(readModelKind(good), kSceneParserKind);
  EXPECT_EQ(readModelKind(dir + "/cut.bin"), kSceneParserKind);
  EXPECT_EQ(readModelKind(dir + "/other.bin"), "vqa-program-parser");
  auto kindError = [](const std::string& path) {
    try {
      readModelKind(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(kindError(dir + "/cut_header.bin"), dir + "/cut_header.bin: truncated model file (header cut short)");
  vqa::testing::writeFile(dir + "/cut_size.bin", bytes.substr(0, 12));
  EXPECT_EQ(kindError(dir + "/cut_size.bin"), dir + "/cut_size.bin: truncated model file (no header)");
  EXPECT_EQ(kindError(dir + "/text.bin"), dir + "/text.bin: not a vqa model file");
  EXPECT_EQ(kindError(dir + "/none.bin"), dir + "/none.bin: model file not found");
}

TEST(ScenePeaks, DecodedCentresAreCellPlusOffset) {
  // A 10x15 heatmap (h x w) with peaks at (row 7, column 3) and (row 2, column 14), sub-cell offsets.
  at::Tensor logits = at::full({1, 1, 10, 15}, -8.0);
  logits[0][0][7][3] = 3.0;
  logits[0][0][2][14] = 1.0;
  logits[0][0][7][4] = 2.0;  // a neighbour of the first peak: not a local maximum
  at::Tensor offsets = at::full({1, 2, 10, 15}, 0.5);
  offsets[0][0][7][3] = 0.25;
  offsets[0][1][7][3] = 0.75;
  Peaks p = decodePeaks(logits, offsets, 3);
  ASSERT_EQ(p.centers.sizes(), (std::vector<int64_t>{1, 3, 2}));
  EXPECT_NEAR(p.existence[0][0].item<double>(), 1.0 / (1.0 + std::exp(-3.0)), 1e-6);
  EXPECT_NEAR(p.centers[0][0][0].item<double>(), (3 + 0.25) * 4, 1e-5);
  EXPECT_NEAR(p.centers[0][0][1].item<double>(), (7 + 0.75) * 4, 1e-5);
  EXPECT_NEAR(p.centers[0][1][0].item<double>(), (14 + 0.5) * 4, 1e-5);
  EXPECT_NEAR(p.centers[0][1][1].item<double>(), (2 + 0.5) * 4, 1e-5);
  EXPECT_LT(p.existence[0][2].item<double>(), 0.01);
}

// An int8 heatmap has plateaus: neighbouring cells with the same logit. Each plateau is one peak, its first cell in
// reading order; equal values that are not neighbours stay two peaks.
TEST(ScenePeaks, TiedNeighboursAreOnePeak) {
  at::Tensor logits = at::full({1, 1, 8, 8}, -8.0);
  for (auto [y, x] : {std::pair{3, 4}, {3, 5}, {4, 3}, {4, 4}}) logits[0][0][y][x] = 2.5;  // one plateau
  logits[0][0][6][1] = 2.5;                                                              // another object
  logits[0][0][0][7] = 2.0;
  logits[0][0][1][6] = 2.0;  // a diagonal tie
  Peaks p = decodePeaks(logits, at::full({1, 2, 8, 8}, 0.5), 5);
  const double sure = 1.0 / (1.0 + std::exp(-2.5)), less = 1.0 / (1.0 + std::exp(-2.0));
  std::vector<std::pair<double, double>> found;  // (existence, cell index) of the peaks above background
  for (int64_t n = 0; n < 5; ++n)
    if (p.existence[0][n].item<double>() > 0.5)
      found.emplace_back(p.existence[0][n].item<double>(),
                         std::floor(p.centers[0][n][1].item<double>() / 4) * 8 + std::floor(p.centers[0][n][0].item<double>() / 4));
  std::sort(found.begin(), found.end(), [](auto a, auto b) { return a.second < b.second; });
  ASSERT_EQ(found.size(), 3u);
  EXPECT_NEAR(found[0].first, less, 1e-6);
  EXPECT_EQ(found[0].second, 0 * 8 + 7);  // (0, 7) before (1, 6)
  EXPECT_NEAR(found[1].first, sure, 1e-6);
  EXPECT_EQ(found[1].second, 3 * 8 + 4);  // the plateau's first cell
  EXPECT_NEAR(found[2].first, sure, 1e-6);
  EXPECT_EQ(found[2].second, 6 * 8 + 1);
}

// Slot windows are sampled from each image once for all its slots; the reference crops each kept slot from a
// copy of its own image (at::grid_sampler: interpolation 0 bilinear / 1 nearest, padding 0 zeros / 1 border).
TEST(SceneCrops, SlotWindowsAreThoseOfEachSlotCroppedFromItsOwnImage) {
  at::manual_seed(3);
  const int64_t B = 3, N = 4, S = 8;
  at::Tensor images = at::rand({B, 3, 20, 30});
  at::Tensor labels = at::randint(1, 6, {B, 1, 20, 30}).to(at::kFloat);  // ids 1-5: a 0 is outside
  at::Tensor grid = at::rand({B, N, S, S, 2}) * 2.4 - 1.2;  // partly outside the image
  at::Tensor keep = at::tensor(std::vector<int64_t>{0, 2, 5, 6, 11});
  at::Tensor windows = sampleSlotWindows(images, grid, keep, WindowSampling::kImage);
  at::Tensor label_windows = sampleSlotWindows(labels, grid, keep, WindowSampling::kLabels);
  ASSERT_EQ(windows.sizes(), (std::vector<int64_t>{5, 3, S, S}));
  ASSERT_EQ(label_windows.sizes(), (std::vector<int64_t>{5, 1, S, S}));
  for (int64_t k = 0; k < keep.size(0); ++k) {
    const int64_t slot = keep[k].item<int64_t>(), b = slot / N, n = slot % N;
    at::Tensor one_grid = grid[b][n].unsqueeze(0);
    at::Tensor image = at::grid_sampler(images.narrow(0, b, 1).clone(), one_grid, 0, 1, false);
    at::Tensor label = at::grid_sampler(labels.narrow(0, b, 1).clone(), one_grid, 1, 0, false);
    EXPECT_TRUE(at::allclose(windows[k], image[0], 0.0, 1e-6)) << "slot " << slot;
    EXPECT_TRUE(at::equal(label_windows[k], label[0])) << "slot " << slot;
  }
  EXPECT_GT(label_windows.eq(0).sum().item<int64_t>(), 0);  // part of the grid fell outside the image
}

// --mirror-average keeps the image's own objects and averages each one's attributes with those read from the
// mirrored image at the mirrored centre: CLEVR's 480-px column i is column 479 - i of the mirror, so a centre at
// x input pixels (half of CLEVR's) is at 239.5 - x there.
TEST(ScenePeaks, MirrorAverageReadsEachObjectAlsoFromTheMirror) {
  at::manual_seed(8);
  SceneParserOptions options = vqa::testing::tinySceneParserOptions();
  options.crop_size = 16;
  options.crop_mask = true;
  options.detection_threshold = 1e-6;
  SceneParser parser(options);
  parser->eval();
  torch::NoGradGuard no_grad;
  ASSERT_EQ(options.imageWidth(), 480);
  at::Tensor images = at::rand({2, 3, options.imageHeight(), options.imageWidth()});
  at::Tensor mirrored = images.flip({3});
  SceneParse plain = parser->parse(images);
  parser->setMirrorAverage(true);
  SceneParse both = parser->parse(images);
  EXPECT_TRUE(at::equal(both.scene.mask, plain.scene.mask)) << "the same objects";
  EXPECT_TRUE(at::equal(both.centers, plain.centers));
  parser->setMirrorAverage(false);
  at::Tensor mirror_centers = plain.centers.clone();
  mirror_centers.select(-1, 0).copy_(239.5 - plain.centers.select(-1, 0));
  at::Tensor slot_mask = (plain.scene.mask >= options.detection_threshold).to(at::kFloat);
  SlotOutputs seen = parser->slots(parser->dense(images).features, plain.centers, slot_mask, images);
  SlotOutputs seen_mirrored = parser->slots(parser->dense(mirrored).features, mirror_centers, slot_mask, mirrored);
  for (size_t g = 0; g < both.scene.attributes.size(); ++g) {
    at::Tensor expected = 0.5 * (seen.attributes[g] + seen_mirrored.attributes[g]);
    EXPECT_TRUE(at::allclose(both.scene.attributes[g], expected, 1e-5, 1e-6)) << g;
    EXPECT_FALSE(at::allclose(both.scene.attributes[g], plain.scene.attributes[g])) << g;
  }
  SceneParserOptions recorded = options;
  recorded.mirror_average = true;
  EXPECT_TRUE(SceneParserOptions::fromJson(recorded.toJson()).mirror_average);
  EXPECT_FALSE(SceneParserOptions::fromJson(options.toJson()).mirror_average);
}
