// Tiled VAE decoding: tile placement, exactness with one tile, and closeness to the whole-image
// decode on the tiny model.

#include "engine/tiled_decode.h"

#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "engine_test_util.h"
#include "sampling/job_fixture.h"

namespace sdxlw::engine {
namespace {

const nn::VaeModel& vae() { return *test::shared_engine().pipeline().model().vae; }

// Realistic latents of an arbitrary size: job 07's final latents (16×16) resized bilinearly.
at::Tensor latents_of_size(int64_t h, int64_t w) {
  const at::Tensor base = test::JobFixture("07_lora_a_0.8").tensor("latents_final");
  return at::upsample_bilinear2d(base, {h, w}, /*align_corners=*/false);
}

TEST(TileStarts, SpreadEvenlyWithAtLeastTheOverlap) {
  EXPECT_EQ(tile_starts(96, 96, 16), std::vector<int64_t>({0}));
  EXPECT_EQ(tile_starts(40, 96, 16), std::vector<int64_t>({0}));
  EXPECT_EQ(tile_starts(256, 96, 16), std::vector<int64_t>({0, 80, 160}));
  EXPECT_EQ(tile_starts(100, 96, 16), std::vector<int64_t>({0, 4}));
  for (int64_t size = 97; size <= 400; ++size) {
    const auto starts = tile_starts(size, 96, 16);
    ASSERT_EQ(starts.front(), 0);
    ASSERT_EQ(starts.back() + 96, size) << size;
    for (size_t i = 1; i < starts.size(); ++i) ASSERT_GE(starts[i - 1] + 96 - starts[i], 16) << size;
    ASSERT_LE(starts.size(), static_cast<size_t>((size - 16 + 79) / 80)) << "no more tiles than needed";
  }
  EXPECT_THROW(tile_starts(100, 16, 16), std::invalid_argument);
  EXPECT_THROW(tile_starts(100, 0, 0), std::invalid_argument);
}

TEST(TiledDecode, OneTileCoveringTheImageEqualsThePlainDecode) {
  c10::InferenceMode guard;
  const at::Tensor latents = latents_of_size(12, 20);
  TileOptions options;
  options.tile = 32;
  options.overlap = 8;
  EXPECT_TRUE(at::equal(decode_tiled(vae(), latents, options), vae().decode(latents)));
}

// A decoder that looks at each latent pixel alone (a stand-in without the VAE's global
// statistics): blending its tiles must give back the whole-image result, seams included.
TEST(TiledDecode, BlendingLocalTileDecodesReproducesTheWholeImage) {
  c10::InferenceMode guard;
  const TileDecoder local = [](const at::Tensor& z) {
    const at::Tensor rgb = at::tanh(z.narrow(1, 0, 3) * 0.3 + z.narrow(1, 1, 3));
    return at::upsample_nearest2d(rgb, {z.size(2) * 8, z.size(3) * 8});
  };
  const at::Tensor latents =
      latents_of_size(37, 52).repeat({2, 1, 1, 1}) * at::tensor({1.0f, -0.5f}).view({2, 1, 1, 1});
  TileOptions options;
  options.tile = 16;
  options.overlap = 5;  // 3 × 4 tiles with uneven overlaps
  const at::Tensor tiled = blend_tiles(local, 8, latents, options);
  const at::Tensor whole = local(latents);
  ASSERT_EQ(tiled.sizes(), whole.sizes());
  EXPECT_LE((tiled - whole).abs().max().item<double>(), 1e-6);
}

TEST(TiledDecode, TinyVaeTilesStayCloseToThePlainDecode) {
  c10::InferenceMode guard;
  const at::Tensor latents = latents_of_size(40, 40);  // 320×320 pixels
  TileOptions options;
  options.tile = 20;
  options.overlap = 5;  // 3 × 3 tiles; tile and overlap in the production proportion (128 / 32)
  const at::Tensor whole = vae().decode(latents);
  const at::Tensor tiled = decode_tiled(vae(), latents, options);
  ASSERT_EQ(tiled.sizes(), whole.sizes());
  auto levels = [](const at::Tensor& x) { return x.div(2).add(0.5).clamp(0, 1).mul(255).round(); };
  const at::Tensor diff = (levels(tiled) - levels(whole)).abs();
  const double max_levels = diff.max().item<double>(), mean_levels = diff.mean().item<double>();
  std::printf("[ tiled ] tiny VAE, 40×40 latents in 20-latent tiles (overlap 5): 8-bit max %.0f, mean %.2f levels\n",
              max_levels, mean_levels);
  // The tiny model's random VAE depends strongly on its GroupNorm and attention statistics, which
  // each tile computes over itself; measured: max 85, mean 11.3 levels (two unrelated latents of
  // this size decode ~63 levels apart on average).
  EXPECT_LE(mean_levels, 14.0);
  EXPECT_LE(max_levels, 110.0);
}

TEST(TiledDecode, DecodeLatentsTilesOnlyAboveThePixelThreshold) {
  c10::InferenceMode guard;
  const at::Tensor latents = latents_of_size(24, 16);  // 192×128 = 24576 pixels
  TileOptions options;
  options.tile = 12;
  options.overlap = 4;
  options.max_untiled_pixels = 192 * 128;
  EXPECT_TRUE(at::equal(decode_latents(vae(), latents, options), vae().decode(latents)));
  options.max_untiled_pixels = 192 * 128 - 1;
  EXPECT_TRUE(at::equal(decode_latents(vae(), latents, options), decode_tiled(vae(), latents, options)));
}

}  // namespace
}  // namespace sdxlw::engine
