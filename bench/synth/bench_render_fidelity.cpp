// Bench: renders the real CLEVR scenes whose images are in ../shared (13 val, 12 train) and
// prints how close each render is to the real image: object colour error, structure ratio, the texture ratio
// inside metal and rubber objects and the fine-noise ratio (fidelity.h; ratios are ours / real, goal
// 0.8-1.25). The render settings' defaults were tuned on the train images; the val ones check them.
// Usage: bench_render_fidelity [--shared DIR] [--split val|train] [--set name=value ...] [--save DIR]
//                              [--figure PNG] [--images N]
//   --figure writes a side-by-side real | render image of the split's scene 0 (the README figure).
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "datasets/clevr/clevr_io.h"
#include "datasets/synth/clevr_style.h"
#include "datasets/synth/fidelity.h"

using namespace vqa::synth;

int main(int argc, char** argv) {
  const char* env = std::getenv("VQA_SHARED_DIR");
  std::string shared = env ? env : VQA_DEFAULT_SHARED_DIR;
  std::string save, figure, split = "val";
  RenderSettings settings;
  int images = 1000;  // at most this many real images of the split (by default all there are)
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--shared") shared = next();
      else if (a == "--set") setRenderSetting(settings, next());
      else if (a == "--save") save = next();
      else if (a == "--figure") figure = next();
      else if (a == "--images") images = std::stoi(next());
      else if (a == "--split") split = next();
      else throw std::runtime_error("unknown option " + a);
    }
    std::string root = shared + "/data/clevr-real";
    if (split != "val" && split != "train") throw std::runtime_error("--split: val or train");
    auto scenes = vqa::readClevrScenes(root + "/scenes/CLEVR_" + split +
                                       (split == "val" ? "_scenes_first500.json" : "_scenes_first1000.json"));
    CameraModel model = clevrCameraModel();
    Lighting lights = clevrLighting(settings, model.base_position);
    std::printf("render settings:\n%s", describeRenderSettings(settings).c_str());
    double colour_sum = 0, ratio_sum = 0;
    int objects = 0, n = 0;
    // Texture inside objects, per material (in the render's object mask, applied to both images).
    double texture_ours[2] = {0, 0}, texture_real[2] = {0, 0};
    int textured[2] = {0, 0};
    double noise_ours = 0, noise_real = 0;
    double seconds = 0;
    auto ratio = [](double ours, double real) { return real > 0 ? ours / real : 0.0; };
    for (int i = 0; n < images && i < int(scenes.scenes.size()); ++i) {
      const auto& sc = scenes.scenes[i];
      char name[64];
      std::snprintf(name, sizeof name, "CLEVR_%s_%06d.png", split.c_str(), i);
      const std::string path = root + "/images/" + split + "/" + name;
      if (!std::filesystem::exists(path)) continue;  // ../shared holds a few of the split's images
      cv::Mat real = cv::imread(path, cv::IMREAD_COLOR);
      if (real.empty()) throw std::runtime_error(path + ": not a readable image");
      Camera cam = Camera::make(model, fitCameraPosition(model, cameraObservationsFor(sc)), settings.width,
                                settings.height);
      auto t0 = std::chrono::steady_clock::now();
      cv::Mat ids;
      const std::vector<RenderObject> objects_of_scene = renderObjectsFor(sc);
      cv::Mat render = renderScene(objects_of_scene, cam, lights, settings, &ids);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (render.size() != real.size()) {
        cv::resize(render, render, real.size(), 0, 0, cv::INTER_AREA);
        cv::resize(ids, ids, real.size(), 0, 0, cv::INTER_NEAREST);
      }
      double image_texture[2] = {0, 0}, image_texture_real[2] = {0, 0};
      for (size_t k = 0; k < objects_of_scene.size(); ++k) {
        const cv::Mat mask = ids == static_cast<int>(k);
        const double ours = textureInside(render, mask), theirs = textureInside(real, mask);
        if (ours < 0 || theirs < 0) continue;
        const int m = objects_of_scene[k].material == Material::Metal ? 1 : 0;
        texture_ours[m] += ours;
        texture_real[m] += theirs;
        image_texture[m] += ours;
        image_texture_real[m] += theirs;
        ++textured[m];
      }
      const double image_noise = fineNoise(render), image_noise_real = fineNoise(real);
      noise_ours += image_noise;
      noise_real += image_noise_real;
      std::vector<cv::Point> px;
      for (int k = 0; k < sc.size(); ++k) px.emplace_back(int(sc.object(k).pixel[0]), int(sc.object(k).pixel[1]));
      ColourError ce = objectColourError(real, render, px);
      StructureError se = structureError(real, render);
      std::printf("%s objects %d colour_error %.2f structure_ratio %.3f (error %.2f, flat %.2f) texture_ratio "
                  "metal %.2f rubber %.2f fine_noise_ratio %.2f\n",
                  name, ce.objects, ce.sum / ce.objects, se.ratio(), se.error, se.flat_error,
                  ratio(image_texture[1], image_texture_real[1]), ratio(image_texture[0], image_texture_real[0]),
                  ratio(image_noise, image_noise_real));
      colour_sum += ce.sum;
      objects += ce.objects;
      ratio_sum += se.ratio();
      ++n;
      if (!save.empty()) cv::imwrite(save + "/render_" + name, render);
      if (i == 0 && !figure.empty()) {
        cv::Mat both;
        cv::hconcat(real, render, both);
        cv::putText(both, "real CLEVR", {8, 20}, cv::FONT_HERSHEY_SIMPLEX, 0.6, {255, 255, 255}, 1, cv::LINE_AA);
        cv::putText(both, "ours (vqa render)", {488, 20}, cv::FONT_HERSHEY_SIMPLEX, 0.6, {255, 255, 255}, 1,
                    cv::LINE_AA);
        if (!cv::imwrite(figure, both)) throw std::runtime_error("cannot write " + figure);
      }
    }
    if (n == 0) throw std::runtime_error("no real " + split + " images found under " + root + "/images/" + split);
    std::printf("images %d objects %d\n", n, objects);
    std::printf("object colour error (mean abs RGB, 0-255): %.2f   (goal <= 15; flat image 38.9)\n", colour_sum / objects);
    std::printf("structure ratio (grey error at 120x80 / flat image's): %.3f   (goal <= 0.5)\n", ratio_sum / n);
    for (int m : {1, 0})
      std::printf("texture inside %s objects (mean |grey - mean|, %d objects): ours %.2f, real %.2f, ratio %.2f   "
                  "(goal 0.8-1.25)\n",
                  m ? "metal" : "rubber", textured[m], texture_ours[m] / std::max(1, textured[m]),
                  texture_real[m] / std::max(1, textured[m]), ratio(texture_ours[m], texture_real[m]));
    std::printf("fine-grain noise (median |grey - blurred grey|): ours %.3f, real %.3f, ratio %.2f   (goal 0.8-1.25)\n",
                noise_ours / n, noise_real / n, ratio(noise_ours, noise_real));
    std::printf("render time %.3f s per image\n", seconds / n);
  } catch (const std::exception& e) {
    std::cerr << "bench_render_fidelity: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
