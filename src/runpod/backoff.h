#pragma once
// Capped exponential back-off and an interruptible sleep for the serverless loop.

#include <atomic>
#include <chrono>

namespace sdxlw {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max);
  // The next delay: initial, 2×initial, 4×initial, ... never above max.
  std::chrono::milliseconds next();
  void reset();

 private:
  std::chrono::milliseconds initial_, max_, current_;
};

// Sleeps `duration` or until `stop` becomes true (checked every few milliseconds); returns
// false when it was stopped.
bool sleep_unless_stopped(std::chrono::milliseconds duration, const std::atomic<bool>& stop);

}  // namespace sdxlw
