// The analytic operation counts against published figures for SDXL base (built from the real key
// list's shapes, nothing allocated): ../shared/notes/perf_anchors.md §4.

#include "engine/flops.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "nn/sdxl_config.h"
#include "nn/shape_map.h"
#include "support/paths.h"

namespace sdxlw::engine {
namespace {

const nn::SdxlConfig& sdxl_base() {
  static const nn::SdxlConfig config =
      nn::SdxlConfig::detect(nn::read_key_list(test::fixture("sdxl_base_keys_with_shapes.txt").string()));
  return config;
}

constexpr double G = 1e9;
constexpr double T = 1e12;

TEST(Flops, UNetAt1024MatchesThePublishedConvPlusLinearCountAndTheFullModel) {
  const OpCount ops = unet_forward_ops(sdxl_base().unet, 128, 128, 77, 1);
  // diffusers/benchmarks: 5979.1 GFLOP from torchprofile, which counts convs and linears only.
  EXPECT_NEAR(2 * (ops.conv_macs + ops.linear_macs), 5979.1 * G, 0.001 * 5979.1 * G);
  EXPECT_NEAR(ops.attention_macs, 392.0 * G, 0.5 * G);
  EXPECT_NEAR(ops.flops(), 6.76 * T, 0.02 * 6.76 * T);
}

TEST(Flops, UNetAt512IsAQuarterOfTheConvsPlusSmallerAttention) {
  const OpCount ops = unet_forward_ops(sdxl_base().unet, 64, 64, 77, 1);
  EXPECT_NEAR(ops.flops(), 1.59 * T, 0.02 * 1.59 * T);
  const OpCount big = unet_forward_ops(sdxl_base().unet, 128, 128, 77, 1);
  // Convolutions scale with the pixel count; self-attention with its square.
  EXPECT_NEAR(big.conv_macs / ops.conv_macs, 4.0, 1e-9);
  EXPECT_GT(big.attention_macs / ops.attention_macs, 10.0);
}

TEST(Flops, UNetScalesLinearlyWithTheBatch) {
  const OpCount one = unet_forward_ops(sdxl_base().unet, 64, 96, 77, 1);
  const OpCount two = unet_forward_ops(sdxl_base().unet, 64, 96, 77, 2);
  EXPECT_DOUBLE_EQ(two.macs(), 2 * one.macs());
}

TEST(Flops, LongerPromptsAddCrossAttentionWork) {
  const OpCount short_prompt = unet_forward_ops(sdxl_base().unet, 64, 64, 77, 1);
  const OpCount long_prompt = unet_forward_ops(sdxl_base().unet, 64, 64, 154, 1);
  EXPECT_GT(long_prompt.attention_macs, short_prompt.attention_macs);
  EXPECT_GT(long_prompt.linear_macs, short_prompt.linear_macs);
  EXPECT_DOUBLE_EQ(long_prompt.conv_macs, short_prompt.conv_macs);
}

TEST(Flops, VaeDecoderMatchesThePublishedConvCount) {
  // 1240.1 GMACs at 512² for the convolutions (thop, attention matmuls not counted), 5235 G in
  // all at 1024², of which 292 G in the mid-block attention over 16384 positions (its q·kᵀ and p·v
  // plus the four 1×1 projections, 4·512²·16384).
  const OpCount small = vae_decode_ops(sdxl_base().vae, 64, 64);
  EXPECT_NEAR(small.conv_macs, 1240.1 * G, 0.001 * 1240.1 * G);
  const OpCount big = vae_decode_ops(sdxl_base().vae, 128, 128);
  EXPECT_NEAR(big.macs(), 5235 * G, 0.002 * 5235 * G);
  EXPECT_NEAR(big.attention_macs + 4.0 * 512 * 512 * 16384, 292 * G, 0.5 * G);
}

TEST(Flops, TextEncodersMatchTheirAnalyticCounts) {
  EXPECT_NEAR(clip_text_ops(sdxl_base().te1, 77).macs(), 6.65 * G, 0.01 * G);
  EXPECT_NEAR(open_clip_text_ops(sdxl_base().te2, 77).macs(), 48.9 * G, 0.05 * G);
}

TEST(Flops, RejectsSizesTheUNetCannotRun) {
  EXPECT_THROW(unet_forward_ops(sdxl_base().unet, 63, 64), std::invalid_argument);
  EXPECT_THROW(unet_forward_ops(sdxl_base().unet, 0, 64), std::invalid_argument);
  EXPECT_THROW(unet_forward_ops(sdxl_base().unet, 64, 64, 0), std::invalid_argument);
  EXPECT_THROW(unet_forward_ops(sdxl_base().unet, 64, 64, 77, 0), std::invalid_argument);
  EXPECT_THROW(vae_decode_ops(sdxl_base().vae, 64, -8), std::invalid_argument);
  EXPECT_THROW(clip_text_ops(sdxl_base().te1, 0), std::invalid_argument);
}

}  // namespace
}  // namespace sdxlw::engine
