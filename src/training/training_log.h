// What every trainer writes beside its model: a JSON-lines metrics log that a resumed run trims back to its
// checkpoint, a PNG of the curves, and durations for progress lines.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vqa::training {

// "42s", "3m07s", "1h05m".
std::string formatSeconds(double seconds);

// The log's lines whose "step" is <= up_to_step (a torn or later tail of an interrupted run is dropped); the
// file is rewritten (atomically) to hold exactly those lines, so appending continues it.
std::vector<nlohmann::json> trimLog(const std::string& path, int64_t up_to_step);

struct CurveSeries {
  std::string label;
  std::vector<std::pair<double, double>> points;  // (step, value)
  double low = 0, high = 1;                       // the plotted range; auto_range: from the points
  bool auto_range = false;
  int blue = 0, green = 0, red = 0;
};

// Draws the series over a shared step axis with a legend line; writes the PNG atomically. No series with a
// point: nothing is written.
void drawCurves(const std::string& path, const std::vector<CurveSeries>& series);

}  // namespace vqa::training
