// Int8 vs fp32 linear layers at the study model's sizes (and one larger layer): time per call,
// throughput and relative error of each int8 backend against fp32.
#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>

#include "bench_timer.h"
#include "hopfield/int8.h"
#include "hopfield/threads.h"

using namespace vqa::hopfield;

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int blas = set_compute_threads(threads);
  std::string engines;
  for (const auto& e : available_int8_engines()) engines += e + " ";
  std::printf("int8 vs fp32 linear | torch threads %d, OpenBLAS threads %d | quantized engines: %s\n", threads, blas,
              engines.c_str());
  std::printf("rows = tokens per call (batch x question length); time = mean ms per call\n\n");
  std::printf("%-22s %7s %9s %9s %9s %9s %9s | %8s %8s\n", "layer (in->out)", "rows", "fp32 ms", "dyn ms", "static ms",
              "ref ms", "GFLOP/s", "dyn err", "ref err");
  struct Shape {
    const char* name;
    int64_t in, out, rows;
  };
  const Shape shapes[] = {{"attn q/k/v/out 64->64", 64, 64, 1280},   {"ffn in 64->256", 64, 256, 1280},
                          {"ffn out 256->64", 256, 64, 1280},       {"ffn in, eval 64->256", 64, 256, 5120},
                          {"larger 512->2048", 512, 2048, 2048}};
  at::manual_seed(0);
  for (const Shape& s : shapes) {
    at::Tensor w = at::randn({s.out, s.in}) / std::sqrt(static_cast<double>(s.in));
    at::Tensor b = at::randn({s.out}) * 0.1;
    at::Tensor x = at::randn({s.rows, s.in});
    at::Tensor reference = at::linear(x, w, b);
    auto engine = Int8Linear::create(w, b, Int8Backend::Auto);
    auto exact = Int8Linear::create(w, b, Int8Backend::Reference);
    QuantParams in = asymmetric_params(x.min().item<double>(), x.max().item<double>());
    QuantParams out = asymmetric_params(reference.min().item<double>(), reference.max().item<double>());
    const double fp = bench::milliseconds_per_call([&] { at::linear(x, w, b); });
    const double dyn = bench::milliseconds_per_call([&] { engine->forward(x); });
    const double stat = bench::milliseconds_per_call([&] { engine->forward(x, in, out); });
    const double ref = bench::milliseconds_per_call([&] { exact->forward(x); });
    auto rel = [&](const at::Tensor& y) { return (y - reference).norm().item<double>() / reference.norm().item<double>(); };
    const double gflop = 2.0 * s.rows * s.in * s.out / 1e9;
    std::printf("%-22s %7lld %9.3f %9.3f %9.3f %9.3f %9.1f | %7.3f%% %7.3f%%   (%s; GFLOP/s of fp32)\n", s.name,
                static_cast<long long>(s.rows), fp, dyn, stat, ref, gflop / (fp / 1000.0),
                100 * rel(engine->forward(x)), 100 * rel(exact->forward(x)), engine->backend_name().c_str());
  }
  std::printf("\ndyn = engine dynamic int8 (input range per call, fp32 out); static = engine W8A8 with calibrated input\n"
              "and output ranges; ref = exact int32-accumulation reference backend.\n");
  return 0;
}
