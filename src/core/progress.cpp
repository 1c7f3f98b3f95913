// Progress lines on stderr.
#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace vqa {

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()), last_print_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(int64_t n) {
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if (since >= (tty_ ? 0.2 : 5.0)) {
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
  std::fprintf(stderr, "%s%s: %lld/%lld %s (%.1f%%), %.1f %s/s, %s %.0fs%s", tty_ ? "\r" : "", label_.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(), pct, rate, unit_.c_str(),
               final ? "took" : "ETA", final ? elapsed : eta, tty_ && !final ? "   " : "\n");
  std::fflush(stderr);
}

}  // namespace vqa
