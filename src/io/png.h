#pragma once
// PNG encoding of generated images (stb_image_write, deflate by zlib) and decoding (stb_image),
// the latter mainly for tests and checks.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sdxlw {

// `pixels`: height rows, top to bottom, each width × RGB bytes (HWC). Returns the PNG file's
// bytes. Throws std::invalid_argument on a null buffer or a non-positive / too large size,
// std::runtime_error if encoding fails.
std::string encode_png_rgb8(const uint8_t* pixels, int width, int height);

struct DecodedImage {
  int width = 0;
  int height = 0;
  int channels = 0;             // as stored in the file (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA)
  std::vector<uint8_t> pixels;  // height × width × channels, rows top to bottom
};

// Decodes a PNG (16-bit samples are reduced to 8). With desired_channels 1..4 the pixels are
// converted to that many channels (and `channels` reports it). Throws std::invalid_argument
// when the bytes are not a readable PNG, naming stb_image's reason.
DecodedImage decode_png(std::string_view bytes, int desired_channels = 0);

}  // namespace sdxlw
