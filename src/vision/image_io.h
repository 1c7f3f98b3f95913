// Images for the scene parser: reading any PNG/JPEG the way CLEVR ships them (RGBA, grey, 16-bit are
// converted), checking the frame, and turning pixels into the network's input tensor.
#pragma once
#include <ATen/ATen.h>
#include <opencv2/core.hpp>

#include <string>

namespace vqa::vision {

// Smallest image side the parser accepts, and how far the aspect ratio may stray from CLEVR's 3:2.
constexpr int kMinImageSide = 32;
constexpr double kAspectTolerance = 0.02;

// Any decoded image (1, 3 or 4 channels; 8 or 16 bits; float) as 8-bit BGR. Throws std::runtime_error
// for an empty image or an unsupported layout.
cv::Mat toBgr8(const cv::Mat& image);

// Reads and converts an image file; throws std::runtime_error("PATH: problem") when it is missing, not an
// image, too small, or not framed like CLEVR (3:2).
cv::Mat readSceneImage(const std::string& path);

// 8-bit BGR image -> float RGB tensor [3, height, width] in [0, 1], resized (area averaging).
at::Tensor imageToTensor(const cv::Mat& bgr, int width, int height);

}  // namespace vqa::vision
