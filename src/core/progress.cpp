// Progress lines.
#include "core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace vqa {

Progress::Progress(std::string label, int64_t total, std::string unit, std::ostream* out)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), out_(out ? *out : std::cerr),
      tty_(&out_ == &std::cerr && ::isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(int64_t n) {
  done_ += n;
  maybePrint();
}

void Progress::set(int64_t done) {
  done_ = done;
  maybePrint();
}

void Progress::maybePrint() {
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_print_).count() >= (tty_ ? 0.2 : 5.0)) {
    last_print_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  print(true);
}

void Progress::print(bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  const double eta = rate > 0 && total_ > done_ ? (total_ - done_) / rate : 0.0;
  const double pct = total_ > 0 ? 100.0 * done_ / total_ : 100.0;
  char line[256];
  std::snprintf(line, sizeof line, "%s: %lld/%lld %s (%.1f%%), %.1f %s/s, %s %.0fs", label_.c_str(),
                static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(), pct, rate,
                unit_.c_str(), final ? "took" : "ETA", final ? elapsed : eta);
  if (tty_) out_ << "\r" << line << "\x1b[K" << (final ? "\n" : "") << std::flush;
  else out_ << line << "\n" << std::flush;
}

}  // namespace vqa
