// Wall-clock timing helper of the hopfield benchmarks: mean milliseconds per call over enough calls to
// fill a minimum time, after warm-up calls.
#pragma once
#include <chrono>
#include <functional>

namespace vqa::hopfield::bench {

inline double milliseconds_per_call(const std::function<void()>& call, double min_seconds = 0.4, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) call();
  using Clock = std::chrono::steady_clock;
  int calls = 0;
  const auto start = Clock::now();
  double elapsed = 0.0;
  do {
    call();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_seconds);
  return 1000.0 * elapsed / calls;
}

}  // namespace vqa::hopfield::bench
