// Image reading and conversion for the scene parser.
#include "vision/image_io.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace vqa::vision {

cv::Mat toBgr8(const cv::Mat& image) {
  if (image.empty()) throw std::runtime_error("empty image");
  cv::Mat eight;
  switch (image.depth()) {
    case CV_8U: eight = image; break;
    case CV_16U: image.convertTo(eight, CV_8U, 1.0 / 257.0); break;
    case CV_32F:
    case CV_64F: image.convertTo(eight, CV_8U, 255.0); break;
    default: throw std::runtime_error("unsupported pixel depth (expected 8-bit, 16-bit or float)");
  }
  cv::Mat bgr;
  switch (eight.channels()) {
    case 1: cv::cvtColor(eight, bgr, cv::COLOR_GRAY2BGR); break;
    case 3: bgr = eight; break;
    case 4: cv::cvtColor(eight, bgr, cv::COLOR_BGRA2BGR); break;  // CLEVR's alpha is opaque everywhere
    default: throw std::runtime_error("unsupported channel count " + std::to_string(eight.channels()));
  }
  return bgr;
}

cv::Mat readSceneImage(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::runtime_error(path + ": image not found");
  if (std::filesystem::is_directory(path, ec)) throw std::runtime_error(path + ": is a folder, not an image");
  cv::Mat raw;
  try {
    raw = cv::imread(path, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception&) {
    raw.release();
  }
  if (raw.empty()) throw std::runtime_error(path + ": not a readable image (corrupt or unknown format)");
  if (raw.cols < kMinImageSide || raw.rows < kMinImageSide)
    throw std::runtime_error(path + ": image is " + std::to_string(raw.cols) + "x" + std::to_string(raw.rows) +
                             ", smaller than " + std::to_string(kMinImageSide) + " px");
  const double aspect = static_cast<double>(raw.cols) / raw.rows;
  if (std::abs(aspect / 1.5 - 1.0) > kAspectTolerance)
    throw std::runtime_error(path + ": image is " + std::to_string(raw.cols) + "x" + std::to_string(raw.rows) +
                             "; the scene parser needs CLEVR's 3:2 framing (e.g. 480x320)");
  try {
    return toBgr8(raw);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

at::Tensor imageToTensor(const cv::Mat& bgr, int width, int height) {
  cv::Mat resized;
  if (bgr.cols == width && bgr.rows == height) resized = bgr;
  else cv::resize(bgr, resized, cv::Size(width, height), 0, 0, cv::INTER_AREA);
  cv::Mat rgb;
  cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
  at::Tensor t = at::empty({height, width, 3}, at::kByte);
  for (int y = 0; y < height; ++y)
    std::memcpy(t.data_ptr<uint8_t>() + static_cast<size_t>(y) * width * 3, rgb.ptr<uint8_t>(y), static_cast<size_t>(width) * 3);
  return t.permute({2, 0, 1}).to(at::kFloat).div_(255.0).contiguous();
}

}  // namespace vqa::vision
