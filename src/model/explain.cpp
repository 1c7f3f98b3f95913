// Drawing the explanation picture with OpenCV: a header (image with numbered detections, question, answer,
// program) and one panel per program step.
#include "model/explain.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "core/typed_program.h"
#include "core/vocab.h"
#include "vision/ground_plane.h"

namespace vqa::model {

namespace {

constexpr int kHeaderWidth = 480, kHeaderHeight = 320;  // the image in the header
constexpr int kPanelWidth = 240, kPanelHeight = 160;    // each step's image
constexpr int kPanelsPerRow = 4;
constexpr int kTitleHeight = 34;                        // text above each panel
const cv::Scalar kInk(30, 30, 30), kPaper(250, 250, 250), kHighlight(0, 200, 255), kDim(150, 150, 150);
const int kFont = cv::FONT_HERSHEY_SIMPLEX;

void text(cv::Mat& canvas, const std::string& s, cv::Point at, double scale = 0.45, const cv::Scalar& colour = kInk,
          int thickness = 1) {
  cv::putText(canvas, s, at, kFont, scale, colour, thickness, cv::LINE_AA);
}

// Splits text into lines of at most `width` pixels at the given scale.
std::vector<std::string> wrap(const std::string& s, int width, double scale) {
  std::vector<std::string> lines;
  std::string line, word;
  auto fits = [&](const std::string& t) {
    int base = 0;
    return cv::getTextSize(t, kFont, scale, 1, &base).width <= width;
  };
  auto flush_word = [&] {
    if (word.empty()) return;
    const std::string candidate = line.empty() ? word : line + " " + word;
    if (fits(candidate) || line.empty()) line = candidate;
    else {
      lines.push_back(line);
      line = word;
    }
    word.clear();
  };
  for (char c : s) {
    if (c == ' ') flush_word();
    else word += c;
  }
  flush_word();
  if (!line.empty()) lines.push_back(line);
  return lines;
}

// Each detection's radius on screen (pixels of an image `width` wide): its size's radius at its depth.
std::vector<double> screenRadii(const ParsedImage& image, int width) {
  static const vision::GroundPlane plane;
  std::vector<double> out;
  for (const auto& o : image.objects) {
    const double to480 = 480.0 / std::max(1, image.width);
    const double radius = o.values[static_cast<size_t>(clevr::Attribute::Size)] == 0 ? vision::kSmallRadius
                                                                                       : vision::kLargeRadius;
    const double ppu = plane.pixelsPerUnit(at::tensor({o.pixel[0] * to480, o.pixel[1] * to480}, at::kDouble),
                                           at::tensor(radius, at::kDouble))
                           .item<double>();
    out.push_back(std::max(4.0, 1.25 * radius * ppu * width / 480.0));
  }
  return out;
}

cv::Point scaled(const vision::PredictedObject& o, const ParsedImage& image, int width) {
  const double s = static_cast<double>(width) / std::max(1, image.width);
  return {static_cast<int>(o.pixel[0] * s + 0.5), static_cast<int>(o.pixel[1] * s + 0.5)};
}

// One step's panel: the image dimmed, the attended objects shown through in proportion to their mass.
cv::Mat stepPanel(const cv::Mat& small, const ParsedImage& image, const std::vector<double>& attention) {
  cv::Mat dim = small * 0.3 + cv::Scalar(40, 40, 40);
  cv::Mat panel = dim.clone();
  const std::vector<double> radii = screenRadii(image, small.cols);
  for (size_t i = 0; i < image.objects.size() && i < attention.size(); ++i) {
    const double a = std::clamp(attention[i], 0.0, 1.0);
    if (a < 0.02) continue;
    cv::Mat region = cv::Mat::zeros(small.size(), CV_8UC1);
    cv::circle(region, scaled(image.objects[i], image, small.cols), static_cast<int>(radii[i]), 255, cv::FILLED,
               cv::LINE_AA);
    cv::Mat blend;
    cv::addWeighted(small, a, dim, 1.0 - a, 0.0, blend);
    blend.copyTo(panel, region);
    cv::circle(panel, scaled(image.objects[i], image, small.cols), static_cast<int>(radii[i]), kHighlight,
               a > 0.5 ? 2 : 1, cv::LINE_AA);
  }
  for (size_t i = 0; i < image.objects.size() && i < attention.size(); ++i) {
    if (attention[i] < 0.02) continue;
    char label[32];
    std::snprintf(label, sizeof label, "%zu:%.2f", i, attention[i]);
    const cv::Point c = scaled(image.objects[i], image, small.cols);
    text(panel, label, {c.x - 14, c.y + static_cast<int>(radii[i]) + 12}, 0.35, kHighlight);
  }
  return panel;
}

}  // namespace

std::string describeObject(const vision::PredictedObject& o) {
  std::string s;
  for (auto a : {clevr::Attribute::Size, clevr::Attribute::Color, clevr::Attribute::Material, clevr::Attribute::Shape})
    s += (s.empty() ? "" : " ") +
         clevr::attributeValues(a).at(static_cast<size_t>(o.values[static_cast<size_t>(a)]));
  return s;
}

cv::Mat drawExplanation(const cv::Mat& bgr, const ParsedImage& image, const std::string& question,
                        const PixelAnswer& answer) {
  const int width = kPanelsPerRow * kPanelWidth;
  const int steps = static_cast<int>(answer.step_attention.size());
  const int rows = (steps + kPanelsPerRow - 1) / kPanelsPerRow;
  const int height = kHeaderHeight + 8 + rows * (kTitleHeight + kPanelHeight + 8);
  cv::Mat canvas(height, width, CV_8UC3, kPaper);

  // Header: the image with numbered detections, and the question, answer and objects in words.
  cv::Mat big;
  cv::resize(bgr, big, cv::Size(kHeaderWidth, kHeaderHeight), 0, 0, cv::INTER_AREA);
  const std::vector<double> radii = screenRadii(image, kHeaderWidth);
  for (size_t i = 0; i < image.objects.size(); ++i) {
    const cv::Point c = scaled(image.objects[i], image, kHeaderWidth);
    cv::circle(big, c, static_cast<int>(radii[i]), kHighlight, 1, cv::LINE_AA);
    text(big, std::to_string(i), {c.x - 5, c.y + 5}, 0.5, cv::Scalar(0, 0, 0), 3);
    text(big, std::to_string(i), {c.x - 5, c.y + 5}, 0.5, cv::Scalar(255, 255, 255), 1);
  }
  big.copyTo(canvas(cv::Rect(0, 0, kHeaderWidth, kHeaderHeight)));
  const int left = kHeaderWidth + 12, column = width - left - 8;
  int y = 22;
  for (const auto& line : wrap("Q: " + question, column, 0.5)) {
    text(canvas, line, {left, y}, 0.5);
    y += 20;
  }
  char line[160];
  if (answer.error.empty() || !answer.answer.empty())
    std::snprintf(line, sizeof line, "A: %s  (p = %.3f)", answer.answer.c_str(), answer.probability);
  else
    std::snprintf(line, sizeof line, "no answer: %s", answer.error.c_str());
  text(canvas, line, {left, y + 4}, 0.6, cv::Scalar(0, 110, 0), 2);
  y += 32;
  text(canvas, "program:", {left, y}, 0.4, kDim);
  y += 16;
  for (const auto& l : wrap(tokensToString(answer.program), column, 0.38)) {
    text(canvas, l, {left, y}, 0.38);
    y += 15;
  }
  y += 6;
  text(canvas, std::to_string(image.objects.size()) + " objects:", {left, y}, 0.4, kDim);
  y += 16;
  for (size_t i = 0; i < image.objects.size() && y < kHeaderHeight - 4; ++i) {
    std::snprintf(line, sizeof line, "%zu  %s  (%.2f)", i, describeObject(image.objects[i]).c_str(),
                  image.objects[i].existence);
    text(canvas, line, {left, y}, 0.38);
    y += 15;
  }

  // One panel per step.
  cv::Mat small;
  cv::resize(bgr, small, cv::Size(kPanelWidth, kPanelHeight), 0, 0, cv::INTER_AREA);
  const auto& tokens = programTokens();
  for (int t = 0; t < steps; ++t) {
    const int x0 = (t % kPanelsPerRow) * kPanelWidth, y0 = kHeaderHeight + 8 + (t / kPanelsPerRow) * (kTitleHeight + kPanelHeight + 8);
    const int id = answer.program[static_cast<size_t>(t)];
    const std::string token = id >= 0 && id < static_cast<int>(tokens.size()) ? tokens[static_cast<size_t>(id)].text : "?";
    text(canvas, std::to_string(t + 1) + ". " + token, {x0 + 4, y0 + 14}, 0.42);
    const std::string& step_answer = answer.step_answers[static_cast<size_t>(t)];
    cv::Mat panel;
    if (!step_answer.empty()) {
      panel = small * 0.3 + cv::Scalar(40, 40, 40);
      text(panel, "-> " + step_answer, {12, kPanelHeight / 2 + 8}, 0.8, cv::Scalar(255, 255, 255), 2);
    } else {
      panel = stepPanel(small, image, answer.step_attention[static_cast<size_t>(t)]);
      double total = 0;
      for (double a : answer.step_attention[static_cast<size_t>(t)]) total += a;
      std::snprintf(line, sizeof line, "mass %.2f", total);
      text(canvas, line, {x0 + 4, y0 + 29}, 0.35, kDim);
    }
    panel.copyTo(canvas(cv::Rect(x0, y0 + kTitleHeight, kPanelWidth, kPanelHeight)));
    cv::rectangle(canvas, cv::Rect(x0, y0 + kTitleHeight, kPanelWidth, kPanelHeight), kPaper, 2);
  }
  return canvas;
}

std::string encodePng(const cv::Mat& picture) {
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", picture, bytes)) throw std::runtime_error("could not encode the picture as PNG");
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace vqa::model
