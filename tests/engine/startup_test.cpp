// Start-up: what the "ready to take jobs" report is made of, and the CPU plan's weight layout.

#include <gtest/gtest.h>

#include "engine/sdxl_engine.h"
#include "engine_test_util.h"
#include "nn/sdxl_config.h"

namespace sdxlw::engine {
namespace {

TEST(Startup, LoadTimingsCoverTheCheckpointAndTheDefaultLoraMerge) {
  const LoadTimings& t = test::shared_engine().pipeline().load_timings();
  EXPECT_GT(t.checkpoint_s, 0.0);
  EXPECT_GT(t.lora_s, 0.0);  // lora_a is in the default set of tests/fixtures/models.json
  EXPECT_LT(t.checkpoint_s + t.lora_s, 120.0);
}

TEST(Startup, ConvolutionWeightsAreLoadedInThePlansLayout) {
  const Pipeline& pipeline = test::shared_engine().pipeline();
  EXPECT_EQ(pipeline.plan().channels_last, at::hasMKLDNN());
  const auto format = pipeline.plan().channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  int convs = 0;
  for (const auto& slot : pipeline.model().parameters()) {
    if (slot.tensor->dim() != 4) continue;
    ++convs;
    EXPECT_TRUE(slot.tensor->is_contiguous(format)) << slot.name;
  }
  EXPECT_GT(convs, 100);
}

}  // namespace
}  // namespace sdxlw::engine
