// Dataset generation: scenes are sampled and rendered in parallel (each image has its own random
// stream, so the result does not depend on the thread count), then questions are made in image order
// (answer balancing is sequential), then the JSON files are written.
#include "datasets/synth/generator.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <ostream>
#include <thread>

#include "core/progress.h"
#include "datasets/clevr/clevr_io.h"

namespace vqa::synth {
namespace {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
  x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL; x ^= x >> 27; x *= 0x94d049bb133111ebULL; x ^= x >> 31;
  return x;
}

}  // namespace

std::string clevrImageName(const std::string& split, int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "_%06d.png", index);
  return "CLEVR_" + split + buf;
}

void writePngAtomic(const std::string& path, const cv::Mat& image) {
  std::string tmp = path + ".tmp.png";
  if (!cv::imwrite(tmp, image)) throw std::runtime_error(path + ": cannot write image");
  std::filesystem::rename(tmp, path);
}

GenerateStats generateDataset(const GenerateOptions& opt, std::ostream& log) {
  namespace fs = std::filesystem;
  if (opt.images < 0) throw std::runtime_error("generate: --images must be >= 0");
  if (opt.out_dir.empty()) throw std::runtime_error("generate: no output folder");
  std::string tdir = opt.templates.empty() ? defaultTemplateDir() : opt.templates;
  QuestionEngine engine(loadQuestionFamilies(tdir), opt.engine);

  fs::path root(opt.out_dir);
  fs::path image_dir = root / "images" / opt.split;
  fs::create_directories(root / "scenes");
  fs::create_directories(root / "questions");
  if (opt.render_images) fs::create_directories(image_dir);

  GenerateStats stats;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<SceneGraph> scenes(size_t(opt.images));
  std::atomic<int> next{0}, done{0};
  std::mutex error_mutex;
  std::string error;
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
        scenes[size_t(i)] = std::move(s.scene);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (error.empty()) error = "image " + std::to_string(i) + ": " + e.what();
        next = opt.images;
      }
      ++done;
    }
  };
  {
    Progress progress("generate", opt.images, opt.render_images ? "images" : "scenes", &log);
    std::vector<std::thread> pool;
    for (int k = 0; k < std::max(1, opt.threads); ++k) pool.emplace_back(worker);
    while (done < opt.images && error.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      progress.set(done);
    }
    for (auto& t : pool) t.join();
    if (!error.empty()) throw std::runtime_error("generate: " + error);
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
  stats.images = opt.images;
  stats.questions = long(questions.size());
  stats.families_total = int(engine.families().size());
  for (const auto& [fam, counts] : engine.answerCounts()) {
    int n = 0;
    for (const auto& [a, c] : counts) n += c;
    if (n > 0) ++stats.families_used;
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace vqa::synth
