// Progress reporting for long steps: a live line with rate and ETA on a terminal, plain periodic lines
// (every 5 s) when the output is not a terminal.
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace vqa {

class Progress {
 public:
  // Writes to `out` (standard error when null); only standard error on a terminal gets the live line.
  Progress(std::string label, int64_t total, std::string unit = "items", std::ostream* out = nullptr);
  ~Progress();
  void advance(int64_t n = 1);  // not thread-safe: call from one thread
  void set(int64_t done);       // absolute count, e.g. read from a counter other threads increment
  void finish();                // prints the final line (idempotent)

 private:
  void maybePrint();
  void print(bool final);
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  std::ostream& out_;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace vqa
