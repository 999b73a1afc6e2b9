// util/process_info: resident memory and process age read from /proc.

#include "util/process_info.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

namespace sdxlw {
namespace {

TEST(ProcessInfo, PeakRssGrowsWhenMemoryIsTouchedAndNeverFallsBelowTheCurrentRss) {
  const ProcessMemory before = process_memory();
  ASSERT_GT(before.rss_bytes, 0);
  ASSERT_GE(before.peak_rss_bytes, before.rss_bytes);
  constexpr size_t kBytes = size_t{256} << 20;
  std::unique_ptr<char[]> block(new char[kBytes]);
  std::memset(block.get(), 1, kBytes);
  const ProcessMemory after = process_memory();
  EXPECT_GE(after.rss_bytes, before.rss_bytes + static_cast<int64_t>(kBytes) * 9 / 10);
  EXPECT_GE(after.peak_rss_bytes, after.rss_bytes);
  EXPECT_EQ(block[kBytes - 1], 1);
}

TEST(ProcessInfo, ProcessAgeIsSmallAndGrows) {
  const double age = process_age_seconds();
  ASSERT_GE(age, 0.0);
  EXPECT_LT(age, 3600.0);  // a test binary has not been running for an hour
  EXPECT_GE(process_age_seconds(), age);
}

TEST(ProcessInfo, FormatsBytesInDecimalUnits) {
  EXPECT_EQ(format_bytes(7'123'456'789), "7.12 GB");
  EXPECT_EQ(format_bytes(176'500'000), "176.5 MB");
  EXPECT_EQ(format_bytes(-1), "n/a");
}

}  // namespace
}  // namespace sdxlw
