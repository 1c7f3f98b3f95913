// Fidelity measures of a render against a real image.
#include "datasets/synth/fidelity.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace vqa::synth {
namespace {

cv::Vec3d patchMedian(const cv::Mat& img, cv::Point p) {
  cv::Vec3d out;
  for (int c = 0; c < 3; ++c) {
    std::vector<int> v;
    for (int dy = -3; dy <= 3; ++dy)
      for (int dx = -3; dx <= 3; ++dx) {
        int x = std::clamp(p.x + dx, 0, img.cols - 1), y = std::clamp(p.y + dy, 0, img.rows - 1);
        v.push_back(img.at<cv::Vec3b>(y, x)[c]);
      }
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    out[c] = v[v.size() / 2];
  }
  return out;
}

cv::Mat smallGrey(const cv::Mat& img) {
  cv::Mat grey, small;
  cv::cvtColor(img, grey, cv::COLOR_BGR2GRAY);
  cv::resize(grey, small, cv::Size(120, 80), 0, 0, cv::INTER_AREA);
  small.convertTo(small, CV_64F);
  return small;
}

}  // namespace

ColourError objectColourError(const cv::Mat& real, const cv::Mat& render, const std::vector<cv::Point>& pixels) {
  ColourError e;
  for (const auto& p : pixels) {
    cv::Vec3d a = patchMedian(real, p), b = patchMedian(render, p);
    e.sum += (std::abs(a[0] - b[0]) + std::abs(a[1] - b[1]) + std::abs(a[2] - b[2])) / 3.0;
    ++e.objects;
  }
  return e;
}

StructureError structureError(const cv::Mat& real, const cv::Mat& render) {
  cv::Mat a = smallGrey(real), b = smallGrey(render);
  StructureError s;
  s.error = cv::mean(cv::abs(a - b))[0];
  s.flat_error = cv::mean(cv::abs(a - cv::mean(a)[0]))[0];
  return s;
}

double textureInside(const cv::Mat& image, const cv::Mat& mask, int erode, int min_pixels) {
  cv::Mat inside = mask;
  if (erode > 0)
    cv::erode(mask, inside, cv::getStructuringElement(cv::MORPH_RECT, cv::Size(2 * erode + 1, 2 * erode + 1)));
  if (cv::countNonZero(inside) < min_pixels) return -1;
  cv::Mat grey;
  cv::cvtColor(image, grey, cv::COLOR_BGR2GRAY);
  grey.convertTo(grey, CV_64F);
  const double mean = cv::mean(grey, inside)[0];
  return cv::mean(cv::abs(grey - mean), inside)[0];
}

double fineNoise(const cv::Mat& image) {
  cv::Mat grey, blurred;
  cv::cvtColor(image, grey, cv::COLOR_BGR2GRAY);
  grey.convertTo(grey, CV_32F);
  cv::GaussianBlur(grey, blurred, cv::Size(0, 0), 1.5);
  cv::Mat diff = cv::abs(grey - blurred);
  std::vector<float> v(diff.begin<float>(), diff.end<float>());
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

}  // namespace vqa::synth
