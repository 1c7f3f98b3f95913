// How close a render is to a real CLEVR image of the same scene: object colour error (median RGB of a
// 7x7 patch at each object's pixel_coords) and the structure ratio (grey error at 120x80 relative to
// a flat image of the real image's mean grey).
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

}  // namespace vqa::synth
