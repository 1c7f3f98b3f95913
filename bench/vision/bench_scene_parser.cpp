// Scene parser speed: inference images/s (parse: network, peaks, slots, geometry) and training
// images/s (forward + backward) at 1 and 2 torch threads, for the default model or a trained one.
// Usage: bench_scene_parser [MODEL] [--batch B] [--crop-size S] [--crop-mask] [--crop-stem full|space-to-depth]
// (the --crop options shape the untrained parser benched when no MODEL is given)
#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "hopfield/threads.h"
#include "vision/trainer.h"

using namespace vqa::vision;

namespace {
template <typename F>
double secondsPerCall(F&& call, double min_seconds = 3.0) {
  call();  // warm-up
  const auto start = std::chrono::steady_clock::now();
  int calls = 0;
  double elapsed = 0;
  do {
    call();
    ++calls;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < min_seconds);
  return elapsed / calls;
}
}  // namespace

int main(int argc, char** argv) {
  std::string model_path;
  int64_t batch = 16;
  SceneParserOptions untrained;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = std::atoll(argv[++i]);
    else if (std::strcmp(argv[i], "--crop-size") == 0 && i + 1 < argc) untrained.crop_size = std::atoll(argv[++i]);
    else if (std::strcmp(argv[i], "--crop-stem") == 0 && i + 1 < argc) untrained.crop_stem = argv[++i];
    else if (std::strcmp(argv[i], "--crop-mask") == 0) untrained.crop_mask = true;
    else model_path = argv[i];
  }
  SceneParser parser = model_path.empty() ? SceneParser(untrained) : loadSceneParser(model_path).parser;
  const auto& o = parser->options();
  int64_t params = 0;
  for (const auto& p : parser->parameters()) params += p.numel();
  std::printf("scene parser: images %lldx%lld, backbone input %lldx%lld, crop %lld%s (%s stem), channels %lld, "
              "slot size %lld, %s attention, %lld parameters, batch %lld%s\n",
              static_cast<long long>(o.imageWidth()), static_cast<long long>(o.imageHeight()),
              static_cast<long long>(o.input_width), static_cast<long long>(o.input_height),
              static_cast<long long>(o.crop_size), o.crop_mask ? " with mask" : "", o.crop_stem.c_str(),
              static_cast<long long>(o.channels), static_cast<long long>(o.slot_size), o.attention.c_str(),
              static_cast<long long>(params), static_cast<long long>(batch), model_path.empty() ? " (untrained)" : "");
  // Images come at imageWidth x imageHeight (twice the backbone's input when the parser crops objects);
  // slot centres are in input pixels. Seven objects an image, CLEVR's mean; with crop_mask an object-id map.
  const int64_t objects = std::min<int64_t>(7, o.max_objects);
  at::Tensor images = at::rand({batch, 3, o.imageHeight(), o.imageWidth()});
  for (int threads : {1, 2}) {
    vqa::hopfield::set_compute_threads(threads);
    parser->eval();
    const double infer = secondsPerCall([&] {
      torch::NoGradGuard no_grad;
      parser->parse(images);
    });
    parser->train();
    at::Tensor heat = at::zeros({batch, 1, o.input_height / 4, o.input_width / 4});
    at::Tensor centers = at::rand({batch, o.max_objects, 2}) * at::tensor({static_cast<float>(o.input_width), static_cast<float>(o.input_height)});
    at::Tensor labels = at::zeros({batch, o.max_objects, 4}, at::kLong);
    at::Tensor mask = at::zeros({batch, o.max_objects});
    mask.narrow(1, 0, objects).fill_(1.0);
    at::Tensor object_ids =
        o.crop_mask ? at::randint(0, objects + 1, {batch, 1, o.imageHeight(), o.imageWidth()}).to(at::kFloat) : at::Tensor();
    const double step = secondsPerCall([&] {
      parser->zero_grad();
      parser->losses(images, heat, centers, labels, mask, object_ids).total.backward();
    });
    std::printf("threads %d: inference %.1f images/s, training forward+backward %.1f images/s\n", threads,
                batch / infer, batch / step);
  }
  // The crop windows alone: each image sampled once for all its slots (sampleSlotWindows) against copying the
  // image once per kept slot and sampling that (the scene parser's earlier way).
  {
    vqa::hopfield::set_compute_threads(2);
    const int64_t S = o.crop_size > 0 ? o.crop_size : 32, N = o.max_objects;
    at::Tensor grid = at::rand({batch, N, S, S, 2}) * 0.2 - 0.1;
    at::Tensor keep = at::arange(batch * N).remainder(N).lt(objects).nonzero().squeeze(1);
    at::Tensor image_of = keep.div(N, "floor");
    const double batched = secondsPerCall([&] { sampleSlotWindows(images, grid, keep, WindowSampling::kImage); }, 1.0);
    const double copied = secondsPerCall([&] {
      at::grid_sampler(images.index_select(0, image_of), grid.reshape({batch * N, S, S, 2}).index_select(0, keep), 0, 1,
                       false);
    }, 1.0);
    std::printf("crop windows (%lld of %lld slots, %lldx%lld, 2 threads): %.2f ms sampling each image once, %.2f ms "
                "copying it per slot\n",
                static_cast<long long>(keep.numel()), static_cast<long long>(batch * N), static_cast<long long>(S),
                static_cast<long long>(S), 1e3 * batched, 1e3 * copied);
  }
  return 0;
}
