// Image input: real CLEVR's RGBA PNGs, grey, 16-bit, other 3:2 sizes are converted; a missing, corrupt or
// wrongly framed file is a one-line error.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "test_support.h"
#include "vision/image_io.h"

using vqa::vision::readSceneImage;

namespace {
std::string errorOf(const std::string& path) {
  try {
    readSceneImage(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(SceneImages, RealClevrRgbaIsConverted) {
  VQA_REQUIRE_SHARED(shared);
  const std::string path = shared + "/data/clevr-real/images/val/CLEVR_val_000000.png";
  ASSERT_EQ(cv::imread(path, cv::IMREAD_UNCHANGED).channels(), 4);
  cv::Mat bgr = readSceneImage(path);
  EXPECT_EQ(bgr.type(), CV_8UC3);
  EXPECT_EQ(bgr.cols, 480);
  at::Tensor t = vqa::vision::imageToTensor(bgr, 240, 160);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 160, 240}));
  EXPECT_GT(t.mean().item<float>(), 0.2f);
  EXPECT_LE(t.max().item<float>(), 1.0f);
}

TEST(SceneImages, GreySixteenBitAndOtherSizesAreConverted) {
  const std::string dir = vqa::testing::scratchDir();
  cv::Mat grey(320, 480, CV_8UC1, cv::Scalar(128));
  cv::imwrite(dir + "/grey.png", grey);
  cv::Mat deep(320, 480, CV_16UC3, cv::Scalar(65535, 0, 32896));
  cv::imwrite(dir + "/deep.png", deep);
  cv::Mat big(640, 960, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::imwrite(dir + "/big.jpg", big);

  cv::Mat g = readSceneImage(dir + "/grey.png");
  EXPECT_EQ(g.type(), CV_8UC3);
  EXPECT_EQ(g.at<cv::Vec3b>(5, 5), cv::Vec3b(128, 128, 128));
  cv::Mat d = readSceneImage(dir + "/deep.png");
  EXPECT_EQ(d.type(), CV_8UC3);
  EXPECT_EQ(d.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 0, 128));
  EXPECT_EQ(readSceneImage(dir + "/big.jpg").cols, 960);
}

TEST(SceneImages, BadFilesAreOneLineErrors) {
  const std::string dir = vqa::testing::scratchDir();
  vqa::testing::writeFile(dir + "/corrupt.png", "\x89PNG\r\n\x1a\nthis is not a png");
  vqa::testing::writeFile(dir + "/empty.png", "");
  cv::imwrite(dir + "/square.png", cv::Mat(100, 100, CV_8UC3, cv::Scalar(0)));
  cv::imwrite(dir + "/tiny.png", cv::Mat(16, 24, CV_8UC3, cv::Scalar(0)));
  EXPECT_EQ(errorOf(dir + "/missing.png"), dir + "/missing.png: image not found");
  EXPECT_EQ(errorOf(dir + "/corrupt.png"), dir + "/corrupt.png: not a readable image (corrupt or unknown format)");
  EXPECT_EQ(errorOf(dir + "/empty.png"), dir + "/empty.png: not a readable image (corrupt or unknown format)");
  EXPECT_EQ(errorOf(dir), dir + ": is a folder, not an image");
  EXPECT_NE(errorOf(dir + "/square.png").find("3:2 framing"), std::string::npos);
  EXPECT_NE(errorOf(dir + "/tiny.png").find("smaller than"), std::string::npos);
  for (const char* f : {"/missing.png", "/corrupt.png", "/square.png"})
    EXPECT_EQ(errorOf(dir + f).find('\n'), std::string::npos);
}
