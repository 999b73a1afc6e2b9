#include "runpod/backoff.h"

#include <algorithm>
#include <thread>

namespace sdxlw {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      max_(std::max(max, initial_)),
      current_(initial_) {}

std::chrono::milliseconds Backoff::next() {
  auto delay = current_;
  current_ = std::min(current_ * 2, max_);
  return delay;
}

void Backoff::reset() { current_ = initial_; }

bool sleep_unless_stopped(std::chrono::milliseconds duration, const std::atomic<bool>& stop) {
  // `stop` may be set from a signal handler, which cannot notify a condition variable.
  constexpr auto kTick = std::chrono::milliseconds(20);
  auto deadline = std::chrono::steady_clock::now() + duration;
  while (!stop.load()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(kTick, deadline - now));
  }
  return false;
}

}  // namespace sdxlw
