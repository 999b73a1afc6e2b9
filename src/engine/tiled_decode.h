#pragma once
// VAE decoding that keeps memory flat for large images: the latents are cut into overlapping
// tiles, each tile is decoded alone, and the decoded tiles are blended with linear ramps across
// every overlap (weights of neighbouring tiles sum to 1 there), so no seam is visible.

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "nn/vae.h"

namespace sdxlw::engine {

// Tiles are as large as the largest image decoded whole, so the peak memory of a tiled decode is
// that of a 1024² one. Each tile sees only its own GroupNorm / attention statistics, so the result
// is close to, not equal to, the whole-image decode: larger tiles stay closer.
struct TileOptions {
  int64_t tile = 128;                        // tile side, in latent pixels (1024 image pixels)
  int64_t overlap = 32;                      // minimum overlap of neighbouring tiles, in latent pixels (a quarter tile)
  int64_t max_untiled_pixels = 1024 * 1024;  // larger images (H·W) are decoded in tiles
};

// Start offsets of the tiles along an axis of `size` latent pixels: the first at 0, the last
// ending at `size`, evenly spread so that neighbours overlap by at least `overlap`. One tile
// when size ≤ tile. Throws std::invalid_argument unless 0 ≤ overlap < tile.
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap);

// Decodes one latent tile [1, z, th, tw] → [1, C, th·factor, tw·factor].
using TileDecoder = std::function<at::Tensor(const at::Tensor& tile)>;

// Cuts latents [B, z, h, w] into tiles, decodes each with `decode` and blends the results into
// [B, C, h·factor, w·factor] float32 on latents' device, one image at a time.
at::Tensor blend_tiles(const TileDecoder& decode, int64_t factor, const at::Tensor& latents,
                       const TileOptions& options);

// latents [B, z, h, w] (UNet space) → the decoder's raw output [B, 3, 8h, 8w] in latents' dtype,
// decoded tile by tile, one image at a time.
at::Tensor decode_tiled(const nn::VaeModel& vae, const at::Tensor& latents, const TileOptions& options);

// vae.decode, or decode_tiled when the image has more than options.max_untiled_pixels pixels.
at::Tensor decode_latents(const nn::VaeModel& vae, const at::Tensor& latents, const TileOptions& options);

}  // namespace sdxlw::engine
