// Admission for the server's costly requests (parsing an image, answering a question): at most `workers`
// are answered at once and at most `queue` wait for a turn; anything beyond is turned away at once, and a
// waiting request gives up after `max_wait`, so no request ever waits without bound.
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace vqa::serve {

class RequestGate {
 public:
  RequestGate(int workers, int queue, std::chrono::milliseconds max_wait)
      : workers_(workers), queue_(queue), max_wait_(max_wait) {}

  // Held while a request is answered; frees its worker when it goes.
  class Pass {
   public:
    explicit Pass(RequestGate* gate) : gate_(gate) {}
    Pass(Pass&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    Pass& operator=(Pass&&) = delete;
    ~Pass() {
      if (gate_) gate_->leave();
    }

   private:
    RequestGate* gate_;
  };

  // A pass once a worker is free; none when the queue is full or no worker freed up within max_wait.
  std::optional<Pass> enter() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (active_ >= workers_ && waiting_ >= queue_) return std::nullopt;
    ++waiting_;
    const bool turn = free_.wait_for(lock, max_wait_, [this] { return active_ < workers_; });
    --waiting_;
    if (!turn) return std::nullopt;
    ++active_;
    return Pass(this);
  }

  int workers() const { return workers_; }
  int queue() const { return queue_; }
  int active() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return active_;
  }
  int waiting() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return waiting_;
  }

 private:
  void leave() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --active_;
    }
    free_.notify_one();
  }

  const int workers_, queue_;
  const std::chrono::milliseconds max_wait_;
  mutable std::mutex mutex_;
  std::condition_variable free_;
  int active_ = 0, waiting_ = 0;
};

}  // namespace vqa::serve
