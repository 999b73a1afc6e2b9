// Denoising progress lines: at most one per interval, always the last step, the rate so far.

#include "engine/step_logger.h"

#include <gtest/gtest.h>

namespace sdxlw::engine {
namespace {

TEST(StepLogger, LogsAtMostOncePerIntervalAndAlwaysTheFinalStep) {
  double now = 100.0;
  StepLogger logger(10, 2.0, [&] { return now; });
  std::vector<std::string> lines;
  for (int step = 1; step <= 10; ++step) {
    now += 0.75;  // 1.33 it/s
    if (auto line = logger.step(step)) lines.push_back(*line);
  }
  // Steps end at 0.75, 1.5, ..., 7.5 s: lines once 2 s have passed since the last one, then the end.
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "engine: denoise step 3/10 (1.33 it/s)");
  EXPECT_EQ(lines[1], "engine: denoise step 6/10 (1.33 it/s)");
  EXPECT_EQ(lines[2], "engine: denoise step 9/10 (1.33 it/s)");
  EXPECT_EQ(lines[3], "engine: denoise step 10/10 (1.33 it/s)");
  EXPECT_DOUBLE_EQ(logger.elapsed_s(), 7.5);
}

TEST(StepLogger, FastJobsLogOnlyTheFinalLine) {
  double now = 0.0;
  StepLogger logger(30, 2.0, [&] { return now; });
  int lines = 0;
  for (int step = 1; step <= 30; ++step) {
    now += 0.05;
    if (logger.step(step)) ++lines;
  }
  EXPECT_EQ(lines, 1);
  EXPECT_NEAR(logger.rate(30), 20.0, 1e-9);
}

}  // namespace
}  // namespace sdxlw::engine
