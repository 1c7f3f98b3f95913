// Progress reporting for long steps: a live line with rate and ETA on a terminal, plain periodic lines
// (every few seconds) when stderr is not a terminal.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace vqa {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "items");
  ~Progress();
  void advance(int64_t n = 1);  // thread-compatible, not thread-safe: call from one thread
  void finish();                // prints the final line (idempotent)

 private:
  void print(bool final);
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace vqa
