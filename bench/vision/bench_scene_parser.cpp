// Scene parser speed: inference images/s (parse: network, peaks, slots, geometry) and training
// images/s (forward + backward) at 1 and 2 torch threads, for the default model or a trained one.
// Usage: bench_scene_parser [MODEL] [--batch B]
#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

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
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = std::atoll(argv[++i]);
    else model_path = argv[i];
  }
  SceneParser parser = model_path.empty() ? SceneParser(SceneParserOptions()) : loadSceneParser(model_path).parser;
  const auto& o = parser->options();
  int64_t params = 0;
  for (const auto& p : parser->parameters()) params += p.numel();
  std::printf("scene parser: input %lldx%lld, channels %lld, slot size %lld, %s attention, %lld parameters, batch %lld%s\n",
              static_cast<long long>(o.input_width), static_cast<long long>(o.input_height),
              static_cast<long long>(o.channels), static_cast<long long>(o.slot_size), o.attention.c_str(),
              static_cast<long long>(params), static_cast<long long>(batch), model_path.empty() ? " (untrained)" : "");
  at::Tensor images = at::rand({batch, 3, o.input_height, o.input_width});
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
    at::Tensor mask = at::ones({batch, o.max_objects});
    const double step = secondsPerCall([&] {
      parser->zero_grad();
      parser->losses(images, heat, centers, labels, mask).total.backward();
    });
    std::printf("threads %d: inference %.1f images/s, training forward+backward %.1f images/s\n", threads,
                batch / infer, batch / step);
  }
  return 0;
}
