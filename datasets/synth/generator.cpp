// Dataset generation: scenes are sampled and rendered in parallel (each image has its own random
// stream, so the result does not depend on the thread count), then questions are made in image order
// (answer balancing is sequential), then the JSON files are written. Everything goes into a temporary
// folder beside the target, renamed into place at the end, so a failure or a kill never leaves a partial
// dataset under the target's name.
#include "datasets/synth/generator.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <ostream>
#include <system_error>
#include <thread>

#include "cli/option_checks.h"
#include "core/progress.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/json_file.h"

namespace vqa::synth {
namespace fs = std::filesystem;
namespace {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
  x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL; x ^= x >> 27; x *= 0x94d049bb133111ebULL; x ^= x >> 31;
  return x;
}

void checkRange(const char* option, long value, long lo, long hi) {
  if (value < lo || value > hi)
    throw std::runtime_error(std::string(option) + ": " + std::to_string(value) + " is out of range [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

// The dataset folder as an absolute path without a trailing separator.
fs::path targetFolder(const std::string& out_dir) {
  fs::path p = fs::absolute(fs::path(out_dir)).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p;
}

// Removes NAME.tmp.PID folders beside the target left by a generate run that was killed.
void removeAbandonedTemporaries(const fs::path& target) {
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(target.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid = name.substr(prefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
    if (::kill(pid_t(std::stol(pid)), 0) == 0 || errno != ESRCH) continue;  // still running
    fs::remove_all(e.path(), ec);
  }
}

// Removes the temporary folder unless it was moved into place.
struct TemporaryFolder {
  fs::path path;
  ~TemporaryFolder() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

void makeFolder(const std::string& out_dir, const fs::path& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw std::runtime_error("--out " + out_dir + ": cannot create folder " + folder.string() + " (" + ec.message() + ")");
}

}  // namespace

std::string clevrImageName(const std::string& split, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "_%06d.png", index);
  return "CLEVR_" + split + buf;
}

void writePngAtomic(const std::string& path, const cv::Mat& image) {
  std::vector<uchar> png;
  bool encoded = false;
  try {
    encoded = !image.empty() && cv::imencode(".png", image, png);
  } catch (const cv::Exception&) {
    encoded = false;
  }
  if (!encoded) throw std::runtime_error(path + ": cannot encode the image as PNG");
  writeFileAtomic(path, std::string(png.begin(), png.end()));
}

cv::Mat objectMask(const SampledScene& scene) {
  const bool same_size = scene.ids.cols == scene.camera.width && scene.ids.rows == scene.camera.height;
  const cv::Mat ids = same_size ? scene.ids : objectIdBuffer(scene.objects, scene.camera, 1);
  if (scene.objects.size() > 254) throw std::runtime_error("object mask: more than 254 objects");
  cv::Mat mask;
  ids.convertTo(mask, CV_8U, 1.0, 1.0);  // -1 (ground) -> 0, object i -> i + 1
  return mask;
}

void checkGenerateOptions(const GenerateOptions& opt) {
  checkRange("--images", opt.images, 1, kMaxImages);
  checkRange("--questions-per-image", opt.questions_per_image, 0, kMaxQuestionsPerImage);
  checkRange("--threads", opt.threads, 1, kMaxThreads);
  checkRenderSettings(opt.render);
  cli::checkPlainName("--split", opt.split);
  if (opt.out_dir.empty()) throw std::runtime_error("--out: the path is empty");
  const fs::path target = targetFolder(opt.out_dir);
  std::error_code ec;
  const fs::file_status status = fs::status(target, ec);
  if (status.type() == fs::file_type::not_found) return;  // its parent is created (or refused) later
  if (ec) throw std::runtime_error("--out " + opt.out_dir + ": " + ec.message());
  if (!fs::is_directory(status)) throw std::runtime_error("--out " + opt.out_dir + ": is a file, not a folder");
  if (fs::is_empty(target, ec) || ec) return;
  if (!opt.overwrite)
    throw std::runtime_error("--out " + opt.out_dir +
                             ": the folder is not empty; pass --overwrite to replace it with the new dataset");
  // --overwrite replaces a dataset, never a folder that holds anything else.
  for (const auto& e : fs::directory_iterator(target, ec)) {
    const std::string name = e.path().filename().string();
    if (name != "images" && name != "scenes" && name != "questions" && name != "masks")
      throw std::runtime_error("--out " + opt.out_dir + ": holds '" + name +
                               "', which is not part of a CLEVR dataset; refusing to replace the folder");
  }
}

GenerateStats generateDataset(const GenerateOptions& opt, std::ostream& log) {
  checkGenerateOptions(opt);
  std::string tdir = opt.templates.empty() ? defaultTemplateDir() : opt.templates;
  QuestionEngine engine(loadQuestionFamilies(tdir), opt.engine);

  const fs::path target = targetFolder(opt.out_dir);
  makeFolder(opt.out_dir, target.parent_path());
  removeAbandonedTemporaries(target);
  TemporaryFolder temporary{target.parent_path() / (target.filename().string() + ".tmp." + std::to_string(::getpid()))};
  {
    std::error_code ec;
    fs::remove_all(temporary.path, ec);
  }
  const fs::path root = temporary.path;
  const fs::path image_dir = root / "images" / opt.split;
  makeFolder(opt.out_dir, root / "scenes");
  makeFolder(opt.out_dir, root / "questions");
  if (opt.render_images) makeFolder(opt.out_dir, image_dir);
  const fs::path mask_dir = root / "masks" / opt.split;
  if (opt.write_masks) makeFolder(opt.out_dir, mask_dir);

  GenerateStats stats;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<SceneGraph> scenes(size_t(opt.images));
  std::atomic<int> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::string error;  // written under error_mutex, read after the workers are joined
  SamplerOptions sampler = opt.sampler;
  sampler.width = opt.render.width;
  sampler.height = opt.render.height;
  RenderSettings rs = opt.render;
  rs.threads = 1;  // parallel over images instead
  auto worker = [&] {
    for (int i; (i = next++) < opt.images;) {
      try {
        std::mt19937_64 rng(mix(opt.seed, uint64_t(i)));
        SampledScene s = sampleScene(rng, sampler, rs);
        s.scene.split = opt.split;
        s.scene.image_index = i;
        s.scene.image_filename = clevrImageName(opt.split, i);
        if (opt.render_images) {
          RenderSettings r = rs;
          r.seed = mix(opt.seed ^ 0x5bd1e995ULL, uint64_t(i));
          writePngAtomic((image_dir / s.scene.image_filename).string(), renderScene(s.objects, s.camera, s.lighting, r));
        }
        if (opt.write_masks) writePngAtomic((mask_dir / s.scene.image_filename).string(), objectMask(s));
        scenes[size_t(i)] = std::move(s.scene);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (error.empty()) error = "image " + std::to_string(i) + ": " + e.what();
        failed = true;
        next = opt.images;
      }
      ++done;
    }
  };
  {
    Progress progress("generate", opt.images, opt.render_images ? "images" : "scenes", &log);
    std::vector<std::thread> pool;
    try {
      for (int k = 0; k < opt.threads; ++k) pool.emplace_back(worker);
    } catch (const std::system_error& e) {
      next = opt.images;
      for (auto& t : pool) t.join();
      throw std::runtime_error("--threads " + std::to_string(opt.threads) + ": cannot start thread " +
                               std::to_string(pool.size() + 1) + " (" + e.what() + ")");
    }
    while (done < opt.images && !failed) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      progress.set(done);
    }
    for (auto& t : pool) t.join();
    if (failed) throw std::runtime_error("generate: " + error);
    progress.set(done);
    progress.finish();
  }
  auto t1 = std::chrono::steady_clock::now();
  stats.scene_seconds = std::chrono::duration<double>(t1 - t0).count();

  std::vector<ClevrQuestion> questions;
  std::mt19937_64 qrng(mix(opt.seed, 0xc1e5ULL));
  {
    Progress progress("generate questions", opt.images, "images", &log);
    for (int i = 0; i < opt.images; ++i) {
      for (auto& g : engine.generate(scenes[size_t(i)], opt.questions_per_image, qrng)) {
        ClevrQuestion q;
        q.image_index = i;
        q.image_filename = scenes[size_t(i)].image_filename;
        q.split = opt.split;
        q.question_index = int(questions.size());
        q.question_family_index = g.family_index;
        q.question = g.text;
        q.answer = g.answer;
        q.has_answer = true;
        q.program = g.program;
        q.has_program = true;
        q.template_filename = g.template_filename;
        questions.push_back(std::move(q));
      }
      progress.advance();
    }
  }
  auto t2 = std::chrono::steady_clock::now();
  stats.question_seconds = std::chrono::duration<double>(t2 - t1).count();

  writeClevrScenes((root / "scenes" / ("CLEVR_" + opt.split + "_scenes.json")).string(), scenes, clevrInfo(opt.split));
  writeClevrQuestions((root / "questions" / ("CLEVR_" + opt.split + "_questions.json")).string(), questions,
                      clevrInfo(opt.split));

  // Into place: an existing folder (empty, or replaced with --overwrite) is moved aside first and removed
  // only once the new dataset holds its name.
  std::error_code ec;
  fs::path aside;
  if (fs::exists(target, ec)) {
    aside = target.parent_path() / (target.filename().string() + ".old." + std::to_string(::getpid()));
    fs::remove_all(aside, ec);
    fs::rename(target, aside, ec);
    if (ec) throw std::runtime_error("--out " + opt.out_dir + ": cannot move the old folder aside (" + ec.message() + ")");
  }
  fs::rename(root, target, ec);
  if (ec) {
    std::error_code back;
    if (!aside.empty()) fs::rename(aside, target, back);
    throw std::runtime_error("--out " + opt.out_dir + ": cannot move the new dataset into place (" + ec.message() + ")");
  }
  temporary.path.clear();
  if (!aside.empty()) fs::remove_all(aside, ec);

  stats.images = opt.images;
  stats.questions = long(questions.size());
  stats.families_total = int(engine.families().size());
  for (const auto& [fam, n] : engine.questionsPerFamily())
    if (n > 0) ++stats.families_used;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace vqa::synth
