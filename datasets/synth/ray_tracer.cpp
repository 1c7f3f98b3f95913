// The ray tracer: one primary ray per pixel, adaptive extra samples on object edges, stratified soft
// shadows from three disc lights, one mirror bounce for metal. Deterministic for a seed whatever the
// thread count (the noise pattern is a hash of the pixel).
#include "datasets/synth/ray_tracer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace vqa::synth {
namespace {

constexpr double kEps = 1e-6;
constexpr double kPi = 3.14159265358979323846;

struct Prepared {
  Shape shape;
  Material material;
  Vec3 color, center;
  double size, cos_r, sin_r, bound2;
  double bevel = 0;  // cubes: radius of the rounded edges, in scene units (0: sharp)
};

struct Hit {
  double t = 1e30;
  int object = -1;  // -1: ground, -2: nothing (sky)
  Vec3 normal;
};

uint64_t hash64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
  return x;
}

struct Rng {
  uint64_t s;
  double next() { s = hash64(s + 0x9e3779b97f4a7c15ULL); return (s >> 11) * (1.0 / 9007199254740992.0); }
};

// cube_bevel: the rounded edges' radius as a share of a cube's half side.
std::vector<Prepared> prepare(const std::vector<RenderObject>& objects, double cube_bevel = 0) {
  std::vector<Prepared> out;
  for (const auto& o : objects) {
    Prepared p;
    p.shape = o.shape;
    p.material = o.material;
    p.color = o.color;
    p.center = o.center;
    p.size = o.size;
    // CLEVR's Blender script draws the angle in degrees but assigns it to rotation_euler, which is in
    // radians: the recorded "rotation" is the angle in radians. Real renders agree (see the fidelity bench).
    double a = o.rotation;
    p.cos_r = std::cos(a);
    p.sin_r = std::sin(a);
    double k = o.shape == Shape::Sphere ? 1.0 : (o.shape == Shape::Cube ? 3.0 : 2.0);
    p.bound2 = k * o.size * o.size * 1.0001;
    if (o.shape == Shape::Cube) p.bevel = cube_bevel * o.size;
    out.push_back(p);
  }
  return out;
}

// Ray against one object; returns the nearest t in (tmin, tmax) and the world normal.
bool intersect(const Prepared& ob, const Vec3& o, const Vec3& d, double tmin, double tmax, double& t_out, Vec3& n_out) {
  Vec3 p = o - ob.center;
  double b = dot(p, d);
  double c = dot(p, p) - ob.bound2;
  double disc = b * b - c;
  if (disc < 0) return false;
  double sq = std::sqrt(disc);
  if (-b + sq < tmin || -b - sq > tmax) return false;
  double r = ob.size;
  if (ob.shape == Shape::Sphere) {
    double t = -b - sq;
    if (t < tmin) t = -b + sq;
    if (t < tmin || t > tmax) return false;
    t_out = t;
    n_out = (p + d * t) / r;
    return true;
  }
  // Object frame: rotate by -rotation about z.
  Vec3 lp{ob.cos_r * p.x + ob.sin_r * p.y, -ob.sin_r * p.x + ob.cos_r * p.y, p.z};
  Vec3 ld{ob.cos_r * d.x + ob.sin_r * d.y, -ob.sin_r * d.x + ob.cos_r * d.y, d.z};
  Vec3 ln;
  double best = tmax;
  bool hit = false;
  if (ob.shape == Shape::Cube) {
    double t0 = tmin, t1 = tmax;
    int axis0 = -1;
    double sign0 = 0;
    for (int a = 0; a < 3; ++a) {
      double oa = lp[a], da = ld[a];
      if (std::abs(da) < 1e-12) {
        if (oa < -r || oa > r) return false;
        continue;
      }
      double inv = 1.0 / da;
      double ta = (-r - oa) * inv, tb = (r - oa) * inv;
      double s = -1;
      if (ta > tb) { std::swap(ta, tb); s = 1; }
      if (ta > t0) { t0 = ta; axis0 = a; sign0 = s; }
      if (tb < t1) t1 = tb;
      if (t0 > t1) return false;
    }
    if (axis0 < 0) return false;  // origin inside the box
    best = t0;
    ln = {axis0 == 0 ? sign0 : 0.0, axis0 == 1 ? sign0 : 0.0, axis0 == 2 ? sign0 : 0.0};
    hit = true;
    if (ob.bevel > 0) {
      // Rounded edges: the box of half side r - bevel swept by a ball of radius bevel. It lies inside the sharp
      // box, so the ray enters it in [t0, t1] if at all: sphere-trace its distance function from t0.
      const double inner = r - ob.bevel;
      auto outside = [&](const Vec3& q) {
        return Vec3{std::max(std::abs(q.x) - inner, 0.0), std::max(std::abs(q.y) - inner, 0.0),
                    std::max(std::abs(q.z) - inner, 0.0)};
      };
      double t = t0;
      Vec3 q, e;
      hit = false;
      for (int k = 0; k < 96 && t <= t1; ++k) {
        q = lp + ld * t;
        e = outside(q);
        const double d = length(e) - ob.bevel;  // exact outside the inner box, where the ray stays until it hits
        if (d < 1e-7 * r) {
          hit = true;
          break;
        }
        t += d;
      }
      if (!hit) return false;
      best = t;
      ln = normalize(Vec3{std::copysign(e.x, q.x), std::copysign(e.y, q.y), std::copysign(e.z, q.z)});
    }
  } else {  // cylinder: side and caps
    double a = ld.x * ld.x + ld.y * ld.y;
    if (a > 1e-12) {
      double bb = lp.x * ld.x + lp.y * ld.y;
      double cc = lp.x * lp.x + lp.y * lp.y - r * r;
      double dd = bb * bb - a * cc;
      if (dd >= 0) {
        double t = (-bb - std::sqrt(dd)) / a;
        if (t > tmin && t < best && std::abs(lp.z + ld.z * t) <= r) {
          best = t;
          ln = {(lp.x + ld.x * t) / r, (lp.y + ld.y * t) / r, 0};
          hit = true;
        }
      }
    }
    if (std::abs(ld.z) > 1e-12) {
      for (double zc : {r, -r}) {
        double t = (zc - lp.z) / ld.z;
        if (t > tmin && t < best) {
          double x = lp.x + ld.x * t, y = lp.y + ld.y * t;
          if (x * x + y * y <= r * r) {
            best = t;
            ln = {0, 0, zc > 0 ? 1.0 : -1.0};
            hit = true;
          }
        }
      }
    }
  }
  if (!hit) return false;
  t_out = best;
  n_out = {ob.cos_r * ln.x - ob.sin_r * ln.y, ob.sin_r * ln.x + ob.cos_r * ln.y, ln.z};
  return true;
}

Hit trace(const std::vector<Prepared>& obs, const Vec3& o, const Vec3& d) {
  Hit h;
  for (size_t i = 0; i < obs.size(); ++i) {
    double t;
    Vec3 n;
    if (intersect(obs[i], o, d, kEps, h.t, t, n)) {
      h.t = t;
      h.normal = n;
      h.object = int(i);
    }
  }
  if (h.object < 0) {
    if (d.z < -1e-9 && o.z > 0) {
      h.t = -o.z / d.z;
      h.normal = {0, 0, 1};
      h.object = -1;
    } else {
      h.object = -2;
    }
  }
  return h;
}

bool occluded(const std::vector<Prepared>& obs, const Vec3& o, const Vec3& d, double dist) {
  for (const auto& ob : obs) {
    double t;
    Vec3 n;
    if (intersect(ob, o, d, 1e-4, dist, t, n)) return true;
  }
  return false;
}

struct Tracer {
  const std::vector<Prepared>& obs;
  const Lighting& lights;
  const RenderSettings& s;

  // Light arriving from one disc light at p (normal n): irradiance times visibility; also the mean
  // direction to the light for highlights.
  double direct(const AreaLight& L, const Vec3& p, const Vec3& n, int samples, Rng& rng, Vec3& dir_out) const {
    Vec3 to = L.position - p;
    double d2 = dot(to, to);
    Vec3 w = to / std::sqrt(d2);
    dir_out = w;
    double cosn = dot(n, w);
    if (cosn <= 0) return 0;
    double base = L.intensity * dot(L.position, L.position) / d2 * cosn;
    Vec3 u = normalize(cross(std::abs(w.z) < 0.9 ? Vec3{0, 0, 1} : Vec3{1, 0, 0}, w));
    Vec3 v = cross(w, u);
    int visible = 0;
    double rot = rng.next() * 2 * kPi;
    for (int k = 0; k < samples; ++k) {
      double rr = L.radius * std::sqrt((k + rng.next()) / samples);
      double ang = rot + 2.39996323 * k;  // golden-angle spiral over the disc
      Vec3 q = L.position + u * (rr * std::cos(ang)) + v * (rr * std::sin(ang));
      Vec3 sd = q - p;
      double dist = length(sd);
      if (!occluded(obs, p, sd / dist, dist)) ++visible;
      // Adaptive: when the first two samples agree the point is fully lit or fully shadowed.
      if (k == 1 && samples > 2 && (visible == 0 || visible == 2)) return base * visible / 2;
    }
    return base * visible / samples;
  }

  // What a ray that leaves the scene sees: the sky, darker toward the horizon, and (in mirror reflections)
  // the light discs.
  Vec3 environment(const Vec3& o, const Vec3& d, int bounce) const {
    Vec3 sky = s.sky * (s.sky_horizon + (1 - s.sky_horizon) * std::max(0.0, d.z));
    if (bounce == 0 || s.light_radiance <= 0) return sky;
    for (const AreaLight* L : {&lights.key, &lights.fill, &lights.back}) {
      const Vec3 to = L->position - o;
      const double along = dot(to, d);
      if (along > 0 && dot(to, to) - along * along <= L->radius * L->radius)
        sky += Vec3{1, 1, 1} * (s.light_radiance * L->intensity);
    }
    return sky;
  }

  Vec3 shade(const Vec3& o, const Vec3& d, int bounce, Rng& rng, int* id_out) const {
    Hit h = trace(obs, o, d);
    if (id_out) *id_out = h.object;
    if (h.object == -2) return environment(o, d, bounce);
    Vec3 p = o + d * h.t;
    Vec3 n = h.normal;
    p += n * 1e-5;
    int samples = bounce == 0 ? s.shadow_samples : 1;
    const AreaLight* ls[3] = {&lights.key, &lights.fill, &lights.back};
    double diffuse = s.ambient * (s.ambient_side + (1 - s.ambient_side) * n.z);
    double spec = 0;
    const Prepared* ob = h.object >= 0 ? &obs[h.object] : nullptr;
    bool metal = ob && ob->material == Material::Metal;
    double shininess = metal ? s.metal_shininess : s.rubber_shininess;
    Vec3 refl = reflect(d, n);
    for (const AreaLight* L : ls) {
      Vec3 w;
      double e = direct(*L, p, n, samples, rng, w);
      diffuse += e;
      if (ob && e > 0) spec += e * std::pow(std::max(0.0, dot(refl, w)), shininess);
    }
    if (!ob) return Vec3{1, 1, 1} * (s.ground_albedo * diffuse);
    if (!metal) return ob->color * diffuse + Vec3{1, 1, 1} * (s.rubber_specular * spec);
    Vec3 mirror = bounce < 2 ? shade(p, refl, bounce + 1, rng, nullptr) : environment(p, refl, bounce + 1);
    return ob->color * (s.metal_diffuse * diffuse + s.metal_specular * spec) + ob->color * mirror * s.metal_reflect;
  }
};

double toSrgb(double v) {
  v = std::clamp(v, 0.0, 1.0);
  return v <= 0.0031308 ? 12.92 * v : 1.055 * std::pow(v, 1 / 2.4) - 0.055;
}

template <class F>
void parallelRows(int rows, int threads, F&& f) {
  std::atomic<int> next{0};
  auto work = [&] { for (int y; (y = next++) < rows;) f(y); };
  std::vector<std::thread> pool;
  for (int i = 1; i < std::max(1, threads); ++i) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace

Lighting clevrLighting(const RenderSettings& s, const Vec3& camera_position) {
  Vec3 fwd = normalize(Vec3{-camera_position.x, -camera_position.y, 0});
  Vec3 right = cross(fwd, Vec3{0, 0, 1});
  auto at = [&](double azimuth_deg, double elevation_deg) {
    double a = azimuth_deg * kPi / 180, e = elevation_deg * kPi / 180;
    Vec3 h = (-fwd) * std::cos(a) + right * std::sin(a);
    return h * (s.light_distance * std::cos(e)) + Vec3{0, 0, s.light_distance * std::sin(e)};
  };
  Lighting l;
  l.key = {at(s.key_azimuth, s.key_elevation), s.light_radius, s.key_intensity};
  l.fill = {at(s.fill_azimuth, s.fill_elevation), s.light_radius, s.fill_intensity};
  l.back = {at(s.back_azimuth, s.back_elevation), s.light_radius, s.back_intensity};
  return l;
}

namespace {
// A setting that --set can change, with the values that make sense for it.
struct Field {
  const char* name;
  double RenderSettings::*d;
  int RenderSettings::*i;
  double lo, hi;
};
constexpr double kAny = 1e6;  // bound of settings with no natural range (angles, offsets)
const std::vector<Field>& fields() {
  using S = RenderSettings;
  static const std::vector<Field> f = {
      {"width", nullptr, &S::width, 16, 4096}, {"height", nullptr, &S::height, 16, 4096},
      {"threads", nullptr, &S::threads, 1, 256},
      {"shadow_samples", nullptr, &S::shadow_samples, 1, 256}, {"aa_samples", nullptr, &S::aa_samples, 0, 256},
      {"exposure", &S::exposure, nullptr, 0, 100}, {"ground_albedo", &S::ground_albedo, nullptr, 0, 1},
      {"ambient", &S::ambient, nullptr, 0, 100}, {"ambient_side", &S::ambient_side, nullptr, 0, 1},
      {"sky_horizon", &S::sky_horizon, nullptr, 0, 10}, {"light_radiance", &S::light_radiance, nullptr, 0, 1000},
      {"grain", &S::grain, nullptr, 0, 64}, {"rubber_specular", &S::rubber_specular, nullptr, 0, 100},
      {"rubber_shininess", &S::rubber_shininess, nullptr, 0, 10000}, {"metal_reflect", &S::metal_reflect, nullptr, 0, 1},
      {"metal_diffuse", &S::metal_diffuse, nullptr, 0, 100}, {"metal_specular", &S::metal_specular, nullptr, 0, 100},
      {"metal_shininess", &S::metal_shininess, nullptr, 0, 10000}, {"key_azimuth", &S::key_azimuth, nullptr, -kAny, kAny},
      {"key_elevation", &S::key_elevation, nullptr, -90, 90}, {"key_intensity", &S::key_intensity, nullptr, 0, 1000},
      {"fill_azimuth", &S::fill_azimuth, nullptr, -kAny, kAny}, {"fill_elevation", &S::fill_elevation, nullptr, -90, 90},
      {"fill_intensity", &S::fill_intensity, nullptr, 0, 1000}, {"back_azimuth", &S::back_azimuth, nullptr, -kAny, kAny},
      {"back_elevation", &S::back_elevation, nullptr, -90, 90}, {"back_intensity", &S::back_intensity, nullptr, 0, 1000},
      {"light_distance", &S::light_distance, nullptr, 0.01, 1000}, {"light_radius", &S::light_radius, nullptr, 0, 100},
      {"cube_bevel", &S::cube_bevel, nullptr, 0, 0.5}};
  return f;
}

std::string formatNumber(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// The option that sets a field: width, height and threads have their own; the rest come through --set.
std::string optionFor(const Field& f) {
  const std::string n = f.name;
  return n == "width" || n == "height" || n == "threads" ? "--" + n : "--set " + n;
}

void checkField(const Field& f, double v) {
  if (!std::isfinite(v) || v < f.lo || v > f.hi || (f.i && v != std::floor(v)))
    throw std::runtime_error(optionFor(f) + ": " + formatNumber(v) + " is not " + (f.i ? "an integer " : "a number ") +
                             "in [" + formatNumber(f.lo) + ", " + formatNumber(f.hi) + "]");
}
}  // namespace

void setRenderSetting(RenderSettings& s, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos) throw std::runtime_error("--set " + assignment + ": not name=value");
  std::string name = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  double v;
  try {
    size_t used;
    v = std::stod(value, &used);
    if (used != value.size()) throw std::invalid_argument(value);
  } catch (const std::exception&) {
    throw std::runtime_error("--set " + name + ": '" + value + "' is not a number");
  }
  if (name == "sky") {
    if (!std::isfinite(v) || v < 0 || v > 100) throw std::runtime_error("--set sky: " + value + " is not a number in [0, 100]");
    s.sky = {v, v, v};
    return;
  }
  for (const auto& f : fields())
    if (name == f.name) {
      checkField(f, v);
      if (f.d) s.*(f.d) = v; else s.*(f.i) = int(v);
      return;
    }
  throw std::runtime_error("--set " + name + ": unknown render setting");
}

void checkRenderSettings(const RenderSettings& s) {
  for (const auto& f : fields()) checkField(f, f.d ? s.*(f.d) : double(s.*(f.i)));
}

std::string describeRenderSettings(const RenderSettings& s) {
  std::ostringstream out;
  for (const auto& f : fields()) {
    out << f.name << " = ";
    if (f.d) out << s.*(f.d); else out << s.*(f.i);
    out << "\n";
  }
  out << "sky = " << s.sky.x << "\n";
  return out.str();
}

cv::Mat objectIdBuffer(const std::vector<RenderObject>& objects, const Camera& camera, int threads) {
  auto obs = prepare(objects);
  cv::Mat ids(camera.height, camera.width, CV_16S);
  parallelRows(camera.height, threads, [&](int y) {
    auto* row = ids.ptr<int16_t>(y);
    for (int x = 0; x < camera.width; ++x) {
      Hit h = trace(obs, camera.position, camera.rayDirection(x + 0.5, y + 0.5));
      row[x] = int16_t(h.object >= 0 ? h.object : -1);
    }
  });
  return ids;
}

std::vector<int> visiblePixels(const cv::Mat& ids, size_t object_count) {
  std::vector<int> counts(object_count, 0);
  for (int y = 0; y < ids.rows; ++y) {
    const auto* row = ids.ptr<int16_t>(y);
    for (int x = 0; x < ids.cols; ++x)
      if (row[x] >= 0 && size_t(row[x]) < object_count) ++counts[row[x]];
  }
  return counts;
}

cv::Mat renderScene(const std::vector<RenderObject>& objects, const Camera& camera, const Lighting& lighting,
                    const RenderSettings& settings, cv::Mat* ids_out) {
  auto obs = prepare(objects, settings.cube_bevel);
  Tracer tracer{obs, lighting, settings};
  const int W = camera.width, H = camera.height;
  std::vector<Vec3> color(size_t(W) * H);
  cv::Mat ids(H, W, CV_16S);
  auto pixelRng = [&](int x, int y, int k) { return Rng{hash64(settings.seed * 0x100000001b3ULL ^ (uint64_t(y) << 40) ^ (uint64_t(x) << 16) ^ uint64_t(k))}; };
  parallelRows(H, settings.threads, [&](int y) {
    auto* idrow = ids.ptr<int16_t>(y);
    for (int x = 0; x < W; ++x) {
      Rng rng = pixelRng(x, y, 0);
      int id;
      color[size_t(y) * W + x] = tracer.shade(camera.position, camera.rayDirection(x + 0.5, y + 0.5), 0, rng, &id);
      idrow[x] = int16_t(id >= 0 ? id : -1);
    }
  });
  if (settings.aa_samples > 0) {
    std::vector<Vec3> out = color;
    parallelRows(H, settings.threads, [&](int y) {
      for (int x = 0; x < W; ++x) {
        int id = ids.at<int16_t>(y, x);
        bool edge = (x > 0 && ids.at<int16_t>(y, x - 1) != id) || (x + 1 < W && ids.at<int16_t>(y, x + 1) != id) ||
                    (y > 0 && ids.at<int16_t>(y - 1, x) != id) || (y + 1 < H && ids.at<int16_t>(y + 1, x) != id);
        if (!edge) continue;
        Vec3 sum = color[size_t(y) * W + x];
        for (int k = 1; k <= settings.aa_samples; ++k) {
          Rng rng = pixelRng(x, y, k);
          // Stratified 2x2 (or finer) offsets inside the pixel.
          int g = int(std::ceil(std::sqrt(double(settings.aa_samples))));
          double u = ((k - 1) % g + rng.next()) / g, v = (((k - 1) / g) % g + rng.next()) / g;
          sum += tracer.shade(camera.position, camera.rayDirection(x + u, y + v), 0, rng, nullptr);
        }
        out[size_t(y) * W + x] = sum / double(settings.aa_samples + 1);
      }
    });
    color.swap(out);
  }
  cv::Mat img(H, W, CV_8UC3);
  for (int y = 0; y < H; ++y) {
    auto* row = img.ptr<cv::Vec3b>(y);
    for (int x = 0; x < W; ++x) {
      const Vec3& c = color[size_t(y) * W + x];
      // Grain: one Gaussian draw (Box-Muller) per pixel, the same on its three channels, as a path tracer's
      // luminance noise.
      double noise = 0;
      if (settings.grain > 0) {
        Rng rng = pixelRng(x, y, 1 << 20);
        const double u1 = std::max(rng.next(), 1e-12), u2 = rng.next();
        noise = settings.grain * std::sqrt(-2 * std::log(u1)) * std::cos(2 * kPi * u2);
      }
      auto q = [&](double v) {
        return uchar(std::clamp(std::lround(255.0 * toSrgb(v * settings.exposure) + noise), 0L, 255L));
      };
      row[x] = cv::Vec3b(q(c.z), q(c.y), q(c.x));
    }
  }
  if (ids_out) *ids_out = ids;
  return img;
}

}  // namespace vqa::synth
