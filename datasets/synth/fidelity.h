// How close a render is to a real CLEVR image of the same scene: object colour error (median RGB of a
// 7x7 patch at each object's pixel_coords), the structure ratio (grey error at 120x80 relative to a flat
// image of the real image's mean grey), the grey-level texture inside an object (highlights, reflections,
// shading noise) and the image's fine-grain noise.
#pragma once
#include <opencv2/core.hpp>
#include <vector>

namespace vqa::synth {

struct ColourError {
  double sum = 0;  // sum over objects of the mean absolute RGB difference (0-255)
  int objects = 0;
};
// `pixels` are the objects' pixel_coords (x, y); images are BGR at the same size.
ColourError objectColourError(const cv::Mat& real, const cv::Mat& render, const std::vector<cv::Point>& pixels);

struct StructureError {
  double error = 0;       // mean abs grey difference after shrinking both to 120x80
  double flat_error = 0;  // the same for a flat image of the real image's mean grey
  double ratio() const { return flat_error > 0 ? error / flat_error : 0; }
};
StructureError structureError(const cv::Mat& real, const cv::Mat& render);

// Mean |grey - the region's mean grey| over the pixels where `mask` (CV_8U) is non-zero after eroding it by
// `erode` pixels (so that an object's outline, where real and rendered edges never align exactly, does not
// count); -1 when fewer than `min_pixels` remain. `image` is BGR.
double textureInside(const cv::Mat& image, const cv::Mat& mask, int erode = 2, int min_pixels = 40);

// Fine-grain noise: the median over the image of |grey - grey blurred with a Gaussian of sigma 1.5|.
double fineNoise(const cv::Mat& image);

}  // namespace vqa::synth
