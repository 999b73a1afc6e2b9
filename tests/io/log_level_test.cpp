#include <gtest/gtest.h>

#include "util/log.h"

TEST(Log, ParsesRunpodLevelNames) {
  EXPECT_EQ(sdxlw::parse_log_level("WARN"), spdlog::level::warn);
  EXPECT_EQ(sdxlw::parse_log_level("NOTSET"), spdlog::level::trace);
  EXPECT_EQ(sdxlw::parse_log_level("debug"), spdlog::level::debug);
  EXPECT_FALSE(sdxlw::parse_log_level("loud").has_value());
}
