#include "engine/step_logger.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace sdxlw::engine {

StepLogger::StepLogger(int total_steps, double interval_s, Clock clock)
    : total_(total_steps), interval_s_(interval_s), clock_(std::move(clock)) {
  if (!clock_) {
    clock_ = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
  }
  start_ = clock_();
  last_line_ = start_;
}

double StepLogger::elapsed_s() const { return clock_() - start_; }

double StepLogger::rate(int steps_done) const {
  const double elapsed = elapsed_s();
  return elapsed > 0 ? steps_done / elapsed : 0.0;
}

std::optional<std::string> StepLogger::step(int step) {
  const double now = clock_();
  if (step < total_ && now - last_line_ < interval_s_) return std::nullopt;
  last_line_ = now;
  const double elapsed = now - start_;
  const std::string line =
      fmt::format("engine: denoise step {}/{} ({:.2f} it/s)", step, total_, elapsed > 0 ? step / elapsed : 0.0);
  spdlog::info("{}", line);
  return line;
}

}  // namespace sdxlw::engine
