// Bad input to `vqa generate`, `vqa render` and `vqa fit-camera`: each stops before any work with exit
// status 1, exactly one line "vqa: error: ..." naming the option or file and the problem, and nothing left
// behind; a dataset folder is written whole or not at all.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_support.h"

namespace fs = std::filesystem;

namespace {

using vqa::testing::errorLine;
using vqa::testing::RunResult;

// Files under `dir` other than the tests' own keep* files.
std::vector<std::string> leftBehind(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("keep", 0) != 0) out.push_back(e.path().string());
  }
  return out;
}

const char* kQuick = " --no-images --questions-per-image 2 ";

#define EXPECT_REFUSED(r, dir, text)                                              \
  do {                                                                            \
    EXPECT_EQ((r).rc, 1) << (r).err;                                              \
    EXPECT_NE(errorLine(r).find(text), std::string::npos) << errorLine(r);       \
    EXPECT_TRUE(leftBehind(dir).empty()) << leftBehind(dir).front();            \
  } while (0)

std::string realScenes() {
  const std::string shared = vqa::testing::sharedDir();
  return shared.empty() ? "" : shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json";
}

}  // namespace

TEST(SynthCli, NumericOptionsOutOfRange) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string out = " --out " + dir + "/ds ";
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 2 --threads 100000" + out), dir, "--threads: 100000 is out of range");
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 2 --threads 0" + out), dir, "--threads");
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 2 --width 0" + out), dir, "--width: 0 is not an integer in [16, 4096]");
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 2 --width -1" + out), dir, "--width: -1");
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 2 --height 100000" + out), dir, "--height");
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 2147483647" + out), dir, "--images: 2147483647 is out of range");
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 0" + out), dir, "--images");
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 2 --questions-per-image -1" + out), dir, "--questions-per-image: -1");
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 2 --set aa_samples=-3" + out), dir, "--set aa_samples: -3");
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 2 --set exposure=nan" + out), dir, "--set exposure");
  const std::string png = " --out " + dir + "/a.png";
  EXPECT_REFUSED(vqa::testing::runVqa("render --scenes missing.json --threads 100000" + png), dir, "--threads: 100000");
  EXPECT_REFUSED(vqa::testing::runVqa("render --scenes missing.json --width 0" + png), dir, "--width: 0");
  EXPECT_REFUSED(vqa::testing::runVqa("render --scenes missing.json --height -1" + png), dir, "--height: -1");
  EXPECT_REFUSED(vqa::testing::runVqa("render --scenes missing.json --index -1" + png), dir, "--index: -1");
}

TEST(SynthCli, SplitMustBeAPlainName) {
  const std::string dir = vqa::testing::scratchDir();
  EXPECT_REFUSED(vqa::testing::runVqa("generate --images 1 --split ../../escape --out " + dir + "/ds"), dir, "--split");
}

TEST(SynthCli, OutputPathsAreCheckedAndNamed) {
  const std::string dir = vqa::testing::scratchDir();
  vqa::testing::writeFile(dir + "/keep", "x");
  // A file where a folder is needed.
  EXPECT_REFUSED(vqa::testing::runVqa(std::string("generate --images 1") + kQuick + "--out " + dir + "/keep/ds"), dir, "--out");
  EXPECT_REFUSED(vqa::testing::runVqa(std::string("generate --images 1") + kQuick + "--out " + dir + "/keep"), dir,
                 "is a file, not a folder");
  fs::create_directories(dir + "/keepdir");
  vqa::testing::writeFile(dir + "/keepdir/keep", "x");
  const std::string scenes = realScenes().empty() ? dir + "/none.json" : realScenes();
  RunResult r = vqa::testing::runVqa("render --scenes " + scenes + " --out " + dir + "/keepdir");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("--out " + dir + "/keepdir: is a folder"), std::string::npos) << errorLine(r);
  EXPECT_FALSE(fs::exists(dir + "/keepdir.tmp.png"));
  EXPECT_REFUSED(vqa::testing::runVqa("render --scenes " + scenes + " --out " + dir + "/keep/a.png"), dir, "--out");
  EXPECT_REFUSED(vqa::testing::runVqa("fit-camera --scenes " + scenes + " --json " + dir + "/keep/fit.json"), dir, "--json");
  EXPECT_REFUSED(vqa::testing::runVqa("fit-camera --scenes " + scenes + " --json " + dir + "/keepdir"), dir, "--json");
}

TEST(SynthCli, FitCameraWritesItsJsonAtomically) {
  VQA_REQUIRE_SHARED(shared);
  const std::string dir = vqa::testing::scratchDir();
  RunResult r = vqa::testing::runVqa("fit-camera --scenes " + realScenes() + " --json " + dir + "/sub/fit.json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(vqa::testing::readText(dir + "/sub/fit.json").find("mean_error_px"), std::string::npos);
  EXPECT_EQ(leftBehind(dir).size(), 2u);  // sub and sub/fit.json
}

TEST(SynthCli, GenerateNeverMixesWithAnExistingDataset) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string ds = dir + "/ds";
  ASSERT_EQ(vqa::testing::runVqa("generate --images 5 --threads 1 --width 48 --height 32 --questions-per-image 1 --out " + ds).rc, 0);
  ASSERT_TRUE(fs::exists(ds + "/images/train/CLEVR_train_000004.png"));
  const std::string before = vqa::testing::readText(ds + "/scenes/CLEVR_train_scenes.json");
  RunResult r = vqa::testing::runVqa("generate --images 2 --threads 1 --width 48 --height 32 --seed 9 --out " + ds);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("--out " + ds + ": the folder is not empty; pass --overwrite"), std::string::npos)
      << errorLine(r);
  EXPECT_EQ(vqa::testing::readText(ds + "/scenes/CLEVR_train_scenes.json"), before);
  r = vqa::testing::runVqa("generate --images 2 --threads 1 --width 48 --height 32 --seed 9 --overwrite --out " + ds);
  ASSERT_EQ(r.rc, 0) << r.err;
  int images = 0;
  for (const auto& e : fs::directory_iterator(ds + "/images/train")) images += e.path().extension() == ".png";
  EXPECT_EQ(images, 2);  // no stale images from the first run
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  // --overwrite replaces a dataset, never a folder holding anything else.
  vqa::testing::writeFile(ds + "/notes.txt", "mine");
  r = vqa::testing::runVqa("generate --images 1 --no-images --overwrite --out " + ds);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find("notes.txt"), std::string::npos) << errorLine(r);
  EXPECT_TRUE(fs::exists(ds + "/notes.txt"));
}

TEST(SynthCli, NonsenseTemplatesAreRefused) {
  const std::string dir = vqa::testing::scratchDir();
  fs::create_directories(dir + "/t");
  vqa::testing::writeFile(dir + "/t/bad.json", R"([{"text": ["How many <Q> things?"],
    "nodes": [{"type": "scene", "inputs": []}, {"type": "filter_count", "inputs": [0], "side_inputs": ["<S>"]}],
    "params": [{"type": "Shape", "name": "<S>"}]}])");
  RunResult r = vqa::testing::runVqa("generate --images 1 --no-images --templates " + dir + "/t --out " + dir + "/ds");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(errorLine(r).find(dir + "/t/bad.json: template 0: text 'How many <Q> things?' names undeclared param <Q>"),
            std::string::npos)
      << errorLine(r);
  EXPECT_FALSE(fs::exists(dir + "/ds"));
}
