#pragma once
// The VAE's raw output → 8-bit RGB → PNG files (tests/fixtures/README.md §2 step 9).

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace sdxlw::engine {

// image: [N, 3, H, W] (about [−1, 1]) on any device → uint8 [N, H, W, 3] on the CPU:
// round(clamp(x/2 + 0.5, 0, 1)·255) computed in float32, rounding half to even.
at::Tensor to_rgb8(const at::Tensor& image);

// rgb8: uint8 [N, H, W, 3] CPU → one PNG file per image.
std::vector<std::string> encode_pngs(const at::Tensor& rgb8);

}  // namespace sdxlw::engine
