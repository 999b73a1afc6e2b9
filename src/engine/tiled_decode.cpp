#include "engine/tiled_decode.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace sdxlw::engine {

namespace {

int64_t upscale_factor(const nn::VaeModel& vae) { return int64_t{1} << (vae.config().ch_mult.size() - 1); }

// Blend weights along one axis for tile `i` of `len` latent pixels (`factor` image pixels each):
// a ramp (p + 0.5) / L over the L pixels shared with each neighbour, mirrored at the far edge,
// 1 elsewhere. Positive everywhere; in an overlap the two tiles' ramps sum to 1.
at::Tensor axis_weights(const std::vector<int64_t>& starts, size_t i, int64_t len, int64_t factor) {
  const int64_t pixels = len * factor;
  std::vector<float> w(static_cast<size_t>(pixels), 1.0f);
  auto ramp = [&](int64_t shared, bool at_start) {
    const int64_t span = shared * factor;
    for (int64_t q = 0; q < span && q < pixels; ++q) {
      const float value = static_cast<float>((static_cast<double>(q) + 0.5) / static_cast<double>(span));
      float& slot = w[static_cast<size_t>(at_start ? q : pixels - 1 - q)];
      slot = std::min(slot, value);
    }
  };
  if (i > 0) ramp(starts[i - 1] + len - starts[i], true);
  if (i + 1 < starts.size()) ramp(starts[i] + len - starts[i + 1], false);
  return at::tensor(w);
}

}  // namespace

std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap) {
  if (tile <= 0 || overlap < 0 || overlap >= tile) {
    throw std::invalid_argument("tiled decode: need 0 <= overlap < tile, got tile " + std::to_string(tile) +
                                ", overlap " + std::to_string(overlap));
  }
  if (size <= tile) return {0};
  const int64_t stride = tile - overlap;
  const int64_t count = (size - overlap + stride - 1) / stride;  // ≥ 2
  const int64_t span = size - tile;
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < count; ++i) starts.push_back((2 * i * span + (count - 1)) / (2 * (count - 1)));
  return starts;
}

at::Tensor blend_tiles(const TileDecoder& decode, int64_t factor, const at::Tensor& latents,
                       const TileOptions& options) {
  if (latents.dim() != 4) throw std::invalid_argument("tiled decode: latents must be [B, z, h, w]");
  const int64_t h = latents.size(2), w = latents.size(3);
  const std::vector<int64_t> ys = tile_starts(h, options.tile, options.overlap);
  const std::vector<int64_t> xs = tile_starts(w, options.tile, options.overlap);
  const int64_t th = std::min(options.tile, h), tw = std::min(options.tile, w);

  std::vector<at::Tensor> wy, wx;
  for (size_t i = 0; i < ys.size(); ++i) wy.push_back(axis_weights(ys, i, th, factor).to(latents.device()));
  for (size_t i = 0; i < xs.size(); ++i) wx.push_back(axis_weights(xs, i, tw, factor).to(latents.device()));

  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(latents.device());
  std::vector<at::Tensor> images;
  for (int64_t b = 0; b < latents.size(0); ++b) {
    at::Tensor sum, weight = at::zeros({h * factor, w * factor}, f32);
    for (size_t iy = 0; iy < ys.size(); ++iy) {
      for (size_t ix = 0; ix < xs.size(); ++ix) {
        const at::Tensor tile = latents.narrow(0, b, 1).narrow(2, ys[iy], th).narrow(3, xs[ix], tw);
        const at::Tensor image = decode(tile).to(at::kFloat)[0];  // [C, th·f, tw·f]
        if (image.dim() != 3 || image.size(1) != th * factor || image.size(2) != tw * factor) {
          throw std::logic_error("tiled decode: a tile decoded to an unexpected shape");
        }
        if (!sum.defined()) sum = at::zeros({image.size(0), h * factor, w * factor}, f32);
        const at::Tensor mask = wy[iy].unsqueeze(1) * wx[ix].unsqueeze(0);  // [th·f, tw·f]
        sum.narrow(1, ys[iy] * factor, th * factor).narrow(2, xs[ix] * factor, tw * factor).add_(image * mask);
        weight.narrow(0, ys[iy] * factor, th * factor).narrow(1, xs[ix] * factor, tw * factor).add_(mask);
      }
    }
    images.push_back(sum.div_(weight));
  }
  return at::stack(images);
}

at::Tensor decode_tiled(const nn::VaeModel& vae, const at::Tensor& latents, const TileOptions& options) {
  return blend_tiles([&vae](const at::Tensor& tile) { return vae.decode(tile); }, upscale_factor(vae), latents, options)
      .to(latents.scalar_type());
}

at::Tensor decode_latents(const nn::VaeModel& vae, const at::Tensor& latents, const TileOptions& options) {
  const int64_t factor = upscale_factor(vae);
  const int64_t pixels = latents.size(2) * factor * latents.size(3) * factor;
  return pixels > options.max_untiled_pixels ? decode_tiled(vae, latents, options) : vae.decode(latents);
}

}  // namespace sdxlw::engine
