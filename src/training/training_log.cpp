// Metrics log, curves and durations shared by the trainers.
#include "training/training_log.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "datasets/json_file.h"

namespace vqa::training {

std::string formatSeconds(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  else std::snprintf(buf, sizeof buf, "%ds", static_cast<int>(s));
  return buf;
}

std::vector<nlohmann::json> trimLog(const std::string& path, int64_t up_to_step) {
  std::vector<nlohmann::json> kept;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      try {
        nlohmann::json j = nlohmann::json::parse(line);
        if (j.contains("step") && j["step"].get<int64_t>() <= up_to_step) kept.push_back(j);
      } catch (const std::exception&) {
        // a torn last line of an interrupted run
      }
    }
  }
  std::string text;
  for (const auto& j : kept) text += j.dump() + "\n";
  writeFileAtomic(path, text);
  return kept;
}

void drawCurves(const std::string& path, const std::vector<CurveSeries>& series) {
  const int W = 800, H = 400, pad = 40;
  double max_step = 1;
  bool any = false;
  for (const auto& s : series)
    for (const auto& [step, v] : s.points) max_step = std::max(max_step, step), any = true;
  if (!any) return;
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::rectangle(img, {pad, pad}, {W - pad, H - pad}, cv::Scalar(180, 180, 180));
  auto px = [&](double s) { return pad + static_cast<int>((W - 2 * pad) * s / max_step); };
  std::string legend;
  for (const auto& s : series) {
    double lo = s.low, hi = s.high;
    if (s.auto_range && !s.points.empty()) {
      lo = 1e300, hi = -1e300;
      for (const auto& p : s.points) lo = std::min(lo, p.second), hi = std::max(hi, p.second);
    }
    if (hi - lo < 1e-9) hi = lo + 1;
    auto py = [&](double v) { return H - pad - static_cast<int>((H - 2 * pad) * (std::clamp(v, lo, hi) - lo) / (hi - lo)); };
    const cv::Scalar colour(s.blue, s.green, s.red);
    for (size_t i = 1; i < s.points.size(); ++i)
      cv::line(img, {px(s.points[i - 1].first), py(s.points[i - 1].second)},
               {px(s.points[i].first), py(s.points[i].second)}, colour, 2);
    if (s.points.size() == 1) cv::circle(img, {px(s.points[0].first), py(s.points[0].second)}, 3, colour, -1);
    char range[64];
    std::snprintf(range, sizeof range, " [%.3g, %.3g]", lo, hi);
    legend += (legend.empty() ? "" : "   ") + s.label + range;
  }
  cv::putText(img, legend, {pad, 25}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1);
  char text[64];
  std::snprintf(text, sizeof text, "step %d", static_cast<int>(max_step));
  cv::putText(img, text, {W - pad - 90, H - 12}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1);
  std::vector<uchar> png;
  cv::imencode(".png", img, png);
  writeFileAtomic(path, std::string(png.begin(), png.end()));
}

}  // namespace vqa::training
