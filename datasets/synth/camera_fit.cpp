// Camera calibration: Nelder-Mead over the shared look-at target and focal length; for each
// candidate every scene's camera position is solved by Gauss-Newton on its objects' pixel_coords
// (x, y and depth), so the outer search is over 4 numbers only.
#include "datasets/synth/camera_fit.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <stdexcept>

namespace vqa::synth {
namespace {

using Params = std::array<double, 4>;
constexpr double kDepthWeight = 10.0;  // depth is recorded as a float, pixels are rounded

CameraModel modelFrom(const Params& p) {
  CameraModel m = clevrCameraModel();
  m.target = {p[0], p[1], p[2]};
  m.focal = p[3];
  return m;
}

void residuals(const Camera& cam, const SceneObservations& scene, std::vector<double>& r) {
  r.clear();
  for (const auto& o : scene) {
    Vec3 q = cam.project(o.world);
    r.push_back(q.x - o.pixel.x);
    r.push_back(q.y - o.pixel.y);
    r.push_back(kDepthWeight * (q.z - o.pixel.z));
  }
}

double pixelError(const Camera& cam, const SceneObservations& scene, std::vector<double>* errors) {
  double sum = 0;
  for (const auto& o : scene) {
    Vec3 q = cam.project(o.world);
    double e = std::hypot(q.x - o.pixel.x, q.y - o.pixel.y);
    sum += e * e;
    if (errors) errors->push_back(e);
  }
  return sum;
}

double det3(const double m[3][3]) {
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
         m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

Params nelderMead(const std::function<double(const Params&)>& f, Params start, const Params& step, int iters) {
  std::array<Params, 5> s;
  std::array<double, 5> v;
  for (int i = 0; i < 5; ++i) {
    s[i] = start;
    if (i > 0) s[i][i - 1] += step[i - 1];
    v[i] = f(s[i]);
  }
  for (int it = 0; it < iters; ++it) {
    std::array<int, 5> idx{0, 1, 2, 3, 4};
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return v[a] < v[b]; });
    auto s2 = s;
    auto v2 = v;
    for (int i = 0; i < 5; ++i) { s[i] = s2[idx[i]]; v[i] = v2[idx[i]]; }
    Params c{};
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 4; ++k) c[k] += s[i][k] / 4;
    auto along = [&](double t) {
      Params p;
      for (int k = 0; k < 4; ++k) p[k] = c[k] + t * (s[4][k] - c[k]);
      return p;
    };
    Params r = along(-1);
    double fr = f(r);
    if (fr < v[0]) {
      Params e = along(-2);
      double fe = f(e);
      if (fe < fr) { s[4] = e; v[4] = fe; } else { s[4] = r; v[4] = fr; }
    } else if (fr < v[3]) {
      s[4] = r; v[4] = fr;
    } else {
      Params k = along(0.5);
      double fk = f(k);
      if (fk < v[4]) {
        s[4] = k; v[4] = fk;
      } else {
        for (int i = 1; i < 5; ++i) {
          for (int q = 0; q < 4; ++q) s[i][q] = s[0][q] + 0.5 * (s[i][q] - s[0][q]);
          v[i] = f(s[i]);
        }
      }
    }
  }
  return s[std::min_element(v.begin(), v.end()) - v.begin()];
}

}  // namespace

Vec3 fitCameraPosition(const CameraModel& model, const SceneObservations& scene, int width, int height) {
  Vec3 pos = model.base_position;
  if (scene.empty()) return pos;
  std::vector<double> r0, r1;
  for (int it = 0; it < 6; ++it) {
    residuals(Camera::make(model, pos, width, height), scene, r0);
    std::vector<std::array<double, 3>> jac(r0.size());
    for (int k = 0; k < 3; ++k) {
      Vec3 p = pos;
      (k == 0 ? p.x : k == 1 ? p.y : p.z) += 1e-5;
      residuals(Camera::make(model, p, width, height), scene, r1);
      for (size_t i = 0; i < r0.size(); ++i) jac[i][k] = (r1[i] - r0[i]) / 1e-5;
    }
    double jtj[3][3] = {}, jtr[3] = {};
    for (size_t i = 0; i < r0.size(); ++i)
      for (int a = 0; a < 3; ++a) {
        jtr[a] += jac[i][a] * r0[i];
        for (int b = 0; b < 3; ++b) jtj[a][b] += jac[i][a] * jac[i][b];
      }
    double d = det3(jtj);
    if (std::abs(d) < 1e-12) break;
    double delta[3];
    for (int k = 0; k < 3; ++k) {
      double m[3][3];
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) m[a][b] = (b == k) ? jtr[a] : jtj[a][b];
      delta[k] = det3(m) / d;
    }
    pos = pos - Vec3{delta[0], delta[1], delta[2]};
    if (std::abs(delta[0]) + std::abs(delta[1]) + std::abs(delta[2]) < 1e-7) break;
  }
  return pos;
}

CameraFitResult fitCamera(const std::vector<SceneObservations>& scenes, int width, int height) {
  if (scenes.empty()) throw std::runtime_error("fit-camera: no scenes with objects to fit");
  auto total = [&](const Params& p) {
    CameraModel m = modelFrom(p);
    double sum = 0;
    for (const auto& sc : scenes)
      sum += pixelError(Camera::make(m, fitCameraPosition(m, sc, width, height), width, height), sc, nullptr);
    return sum;
  };
  CameraModel init = clevrCameraModel();
  Params start{init.target.x, init.target.y, init.target.z, init.focal};
  Params best = nelderMead(total, start, {0.2, 0.2, 0.2, 10.0}, 80);
  best = nelderMead(total, best, {0.02, 0.02, 0.02, 1.0}, 80);

  CameraFitResult r;
  r.model = modelFrom(best);
  std::vector<double> errors;
  Vec3 mean;
  double depth_err = 0;
  r.position_min = {1e9, 1e9, 1e9};
  r.position_max = {-1e9, -1e9, -1e9};
  for (const auto& sc : scenes) {
    Vec3 pos = fitCameraPosition(r.model, sc, width, height);
    r.positions.push_back(pos);
    mean += pos;
    r.position_min = {std::min(r.position_min.x, pos.x), std::min(r.position_min.y, pos.y),
                      std::min(r.position_min.z, pos.z)};
    r.position_max = {std::max(r.position_max.x, pos.x), std::max(r.position_max.y, pos.y),
                      std::max(r.position_max.z, pos.z)};
    Camera cam = Camera::make(r.model, pos, width, height);
    pixelError(cam, sc, &errors);
    for (const auto& o : sc) depth_err += std::abs(cam.project(o.world).z - o.pixel.z);
  }
  r.model.base_position = mean / double(scenes.size());
  r.points = errors.size();
  double sum = 0;
  for (double e : errors) sum += e;
  r.mean_error_px = sum / errors.size();
  r.mean_depth_error = depth_err / errors.size();
  std::sort(errors.begin(), errors.end());
  r.median_error_px = errors[errors.size() / 2];
  r.max_error_px = errors.back();
  return r;
}

}  // namespace vqa::synth
