// `vqa generate`'s library end to end: CLEVR layout, read back by the CLEVR readers, answers that the
// executor reproduces, and the same bytes for the same seed whatever the thread count.
#include <gtest/gtest.h>

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

TEST(SynthGenerate, BadTemplateFolderIsAnError) {
  std::string dir = vqa::testing::scratchDir();
  GenerateOptions o = tiny(dir + "/out", 1);
  o.templates = dir + "/missing";
  std::ostringstream log;
  EXPECT_THROW(generateDataset(o, log), std::runtime_error);
  EXPECT_FALSE(fs::exists(dir + "/out/questions/CLEVR_train_questions.json"));
}
