#pragma once
// The denoising progress lines of a job: "engine: denoise step k/n (x.xx it/s)", at most one per
// interval plus the final step, so a long job shows life without flooding the log.

#include <functional>
#include <optional>
#include <string>

namespace sdxlw::engine {

class StepLogger {
 public:
  using Clock = std::function<double()>;  // seconds on any monotonic scale

  // Starts timing now. `clock` defaults to std::chrono::steady_clock.
  explicit StepLogger(int total_steps, double interval_s = 2.0, Clock clock = {});

  // Call after step `step` (1..total) is done. Logs and returns the line when the interval has
  // passed since the last line, or at the final step; otherwise returns nullopt.
  std::optional<std::string> step(int step);

  double elapsed_s() const;
  // Steps per second over the whole run so far.
  double rate(int steps_done) const;

 private:
  int total_;
  double interval_s_;
  Clock clock_;
  double start_;
  double last_line_;
};

}  // namespace sdxlw::engine
