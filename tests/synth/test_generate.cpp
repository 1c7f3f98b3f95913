// `vqa generate`'s library end to end: CLEVR layout, read back by the CLEVR readers, answers that the
// executor reproduces, and the same bytes for the same seed whatever the thread count.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/generator.h"
#include "executor/symbolic_executor.h"
#include "test_support.h"

using namespace vqa::synth;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

GenerateOptions tiny(const std::string& out, int threads) {
  GenerateOptions o;
  o.out_dir = out;
  o.images = 3;
  o.seed = 5;
  o.threads = threads;
  o.questions_per_image = 4;
  o.render.width = 96;
  o.render.height = 64;
  o.render.shadow_samples = 1;
  o.render.aa_samples = 0;
  return o;
}
}  // namespace

TEST(SynthGenerate, WritesClevrLayoutDeterministically) {
  std::string dir = vqa::testing::scratchDir();
  std::ostringstream log;
  GenerateStats st = generateDataset(tiny(dir + "/a", 1), log);
  generateDataset(tiny(dir + "/b", 2), log);
  EXPECT_EQ(st.images, 3);
  EXPECT_GT(st.questions, 0);
  EXPECT_NE(log.str().find("/s"), std::string::npos);  // progress with a rate
  for (const char* rel : {"scenes/CLEVR_train_scenes.json", "questions/CLEVR_train_questions.json",
                          "images/train/CLEVR_train_000000.png", "images/train/CLEVR_train_000002.png"}) {
    ASSERT_TRUE(fs::exists(fs::path(dir) / "a" / rel)) << rel;
    EXPECT_EQ(slurp(fs::path(dir) / "a" / rel), slurp(fs::path(dir) / "b" / rel)) << rel;
  }
  for (const auto& e : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();

  auto scenes = vqa::readClevrScenes(dir + "/a/scenes/CLEVR_train_scenes.json");
  auto questions = vqa::readClevrQuestions(dir + "/a/questions/CLEVR_train_questions.json");
  ASSERT_EQ(scenes.scenes.size(), 3u);
  EXPECT_EQ(scenes.scenes[1].image_filename, "CLEVR_train_000001.png");
  vqa::ClevrExecutor ex;
  for (const auto& q : questions.questions) {
    ASSERT_TRUE(q.has_program && q.has_answer);
    auto r = ex.run(q.program, scenes.scenes.at(size_t(q.image_index)));
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.answer, q.answer);
  }
}

// --masks: an 8-bit PNG per image, its size, whose pixels name the object they show (index + 1, 0 = ground).
// Checked against the scene records: every object shows at least the sampler's minimum of pixels, and at its
// projected centre (pixel_coords) the mask shows the object itself or one nearer to the camera, never the
// ground. The masks are the same whether or not the images are rendered.
TEST(SynthGenerate, MasksShowEachObjectWhereItIs) {
  std::string dir = vqa::testing::scratchDir();
  std::ostringstream log;
  GenerateOptions o;
  o.out_dir = dir + "/full";
  o.images = 12;
  o.seed = 5;
  o.threads = 2;
  o.questions_per_image = 0;
  o.render_images = false;
  o.write_masks = true;
  generateDataset(o, log);
  auto scenes = vqa::readClevrScenes(dir + "/full/scenes/CLEVR_train_scenes.json");
  int objects = 0, own_centre = 0;
  for (const auto& s : scenes.scenes) {
    cv::Mat mask = cv::imread(dir + "/full/masks/train/" + s.image_filename, cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(mask.empty()) << s.image_filename;
    ASSERT_EQ(mask.type(), CV_8UC1);
    ASSERT_EQ(mask.cols, 480);
    ASSERT_EQ(mask.rows, 320);
    double top = 0;
    cv::minMaxLoc(mask, nullptr, &top);
    EXPECT_LE(top, s.size()) << s.image_filename;
    for (int i = 0; i < s.size(); ++i) {
      const auto& obj = s.object(i);
      EXPECT_GE(cv::countNonZero(mask == i + 1), o.sampler.min_pixels) << s.image_filename << " object " << i;
      const int shown = mask.at<uint8_t>(int(obj.pixel[1]), int(obj.pixel[0])) - 1;
      ++objects;
      if (shown == i) {
        ++own_centre;
        continue;
      }
      ASSERT_GE(shown, 0) << s.image_filename << " object " << i << ": the ground at its centre";
      EXPECT_LT(s.object(shown).pixel[2], obj.pixel[2]) << s.image_filename << " object " << i << " behind " << shown;
    }
  }
  EXPECT_GT(objects, 36);
  EXPECT_GE(own_centre, objects * 8 / 10);

  // At another size, with the images rendered: the masks have the images' size.
  GenerateOptions small = tiny(dir + "/small", 1);
  small.write_masks = true;
  generateDataset(small, log);
  cv::Mat image = cv::imread(dir + "/small/images/train/CLEVR_train_000000.png", cv::IMREAD_UNCHANGED);
  cv::Mat mask = cv::imread(dir + "/small/masks/train/CLEVR_train_000000.png", cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(mask.empty());
  EXPECT_EQ(mask.size(), image.size());
  EXPECT_GT(cv::countNonZero(mask), 0);
}

TEST(SynthGenerate, BadTemplateFolderIsAnError) {
  std::string dir = vqa::testing::scratchDir();
  GenerateOptions o = tiny(dir + "/out", 1);
  o.templates = dir + "/missing";
  std::ostringstream log;
  EXPECT_THROW(generateDataset(o, log), std::runtime_error);
  EXPECT_FALSE(fs::exists(dir + "/out/questions/CLEVR_train_questions.json"));
}

TEST(SynthGenerate, FailureLeavesNothingBehind) {
  // Scenes and images are made, then the question engine gives up on an unsatisfiable template: neither the
  // dataset folder nor its temporary folder may remain.
  std::string dir = vqa::testing::scratchDir();
  fs::create_directories(dir + "/t");
  vqa::testing::writeFile(dir + "/t/impossible.json", R"([{"text": ["Are there as many <S>s as <S2>s?"],
    "nodes": [{"type": "scene", "inputs": []}, {"type": "filter_count", "inputs": [0], "side_inputs": ["<S>"]},
              {"type": "scene", "inputs": []}, {"type": "filter_count", "inputs": [2], "side_inputs": ["<S2>"]},
              {"type": "equal_integer", "inputs": [1, 3]}],
    "params": [{"type": "Shape", "name": "<S>"}, {"type": "Shape", "name": "<S2>"}],
    "constraints": [{"type": "NULL", "params": ["<S>", "<S2>"]}, {"type": "OUT_NEQ", "params": [1, 3]}]}])");
  GenerateOptions o = tiny(dir + "/out", 2);
  o.templates = dir + "/t";
  o.engine.tries_per_template = 10;
  o.engine.give_up_tries = 20;
  std::ostringstream log;
  EXPECT_THROW(generateDataset(o, log), std::runtime_error);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "t") left.push_back(e.path().string());
  EXPECT_TRUE(left.empty()) << left.front();
}

TEST(SynthGenerate, ReplacesOnlyWhenAskedAndOnlyADataset) {
  std::string dir = vqa::testing::scratchDir();
  std::ostringstream log;
  GenerateOptions o = tiny(dir + "/out", 1);
  generateDataset(o, log);
  o.images = 2;
  EXPECT_THROW(generateDataset(o, log), std::runtime_error);
  EXPECT_TRUE(fs::exists(dir + "/out/images/train/CLEVR_train_000002.png"));
  o.overwrite = true;
  generateDataset(o, log);
  EXPECT_FALSE(fs::exists(dir + "/out/images/train/CLEVR_train_000002.png"));
  EXPECT_TRUE(fs::exists(dir + "/out/images/train/CLEVR_train_000001.png"));
  vqa::testing::writeFile(dir + "/out/mine.txt", "x");
  EXPECT_THROW(generateDataset(o, log), std::runtime_error);
  EXPECT_TRUE(fs::exists(dir + "/out/mine.txt"));
}

TEST(SynthGenerate, PngIsWrittenWithTheAtomicHelper) {
  std::string dir = vqa::testing::scratchDir();
  cv::Mat image(8, 8, CV_8UC3, cv::Scalar(10, 20, 30));
  writePngAtomic(dir + "/a.png", image);
  EXPECT_GT(fs::file_size(dir + "/a.png"), 20u);
  EXPECT_THROW(writePngAtomic(dir + "/b.png", cv::Mat()), std::runtime_error);
  EXPECT_THROW(writePngAtomic(dir + "/a.png/c.png", image), std::runtime_error);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"a.png"});
}
