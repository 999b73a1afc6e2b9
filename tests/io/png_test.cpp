#include "io/png.h"

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/file_util.h"
#include "io/sha256.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

std::vector<uint8_t> test_image(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> px(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &px[(static_cast<size_t>(y) * width + x) * 3];
      // A gradient (what filters compress) with noise on the blue channel.
      p[0] = static_cast<uint8_t>(x * 255 / std::max(1, width - 1));
      p[1] = static_cast<uint8_t>(y * 255 / std::max(1, height - 1));
      p[2] = static_cast<uint8_t>(rng());
    }
  }
  return px;
}

TEST(Png, EncodedImageDecodesToTheSamePixels) {
  for (const auto& [w, h] : {std::pair{37, 23}, std::pair{1, 1}, std::pair{64, 1}, std::pair{1, 50},
                             std::pair{256, 192}}) {
    const auto px = test_image(w, h, static_cast<uint32_t>(w * 1000 + h));
    const std::string png = encode_png_rgb8(px.data(), w, h);
    ASSERT_GE(png.size(), 8u);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    const DecodedImage img = decode_png(png);
    EXPECT_EQ(img.width, w);
    EXPECT_EQ(img.height, h);
    EXPECT_EQ(img.channels, 3);
    ASSERT_EQ(img.pixels.size(), px.size());
    for (size_t i = 0; i < px.size(); ++i) {
      ASSERT_EQ(img.pixels[i], px[i]) << w << "x" << h << " byte " << i;
    }
  }
}

TEST(Png, CompressesAFlatImage) {
  const std::vector<uint8_t> px(512 * 512 * 3, 200);
  const std::string png = encode_png_rgb8(px.data(), 512, 512);
  EXPECT_LT(png.size(), 4000u);
  EXPECT_EQ(decode_png(png).pixels, px);
}

TEST(Png, ConvertsToTheRequestedChannelCount) {
  const uint8_t px[] = {10, 20, 30, 40, 50, 60};
  const DecodedImage rgba = decode_png(encode_png_rgb8(px, 2, 1), 4);
  EXPECT_EQ(rgba.channels, 4);
  EXPECT_EQ(rgba.pixels, (std::vector<uint8_t>{10, 20, 30, 255, 40, 50, 60, 255}));
  EXPECT_THROW(decode_png(encode_png_rgb8(px, 2, 1), 5), std::invalid_argument);
}

TEST(Png, DecodesTheFixtureImage) {
  const DecodedImage img =
      decode_png(read_file(test::fixture("jobs/01_euler_64/image_0.png").string()));
  EXPECT_EQ(img.width, 64);
  EXPECT_EQ(img.height, 64);
  EXPECT_EQ(img.channels, 3);
  ASSERT_EQ(img.pixels.size(), 64u * 64 * 3);
  EXPECT_EQ((std::vector<uint8_t>(img.pixels.begin(), img.pixels.begin() + 6)),
            (std::vector<uint8_t>{152, 152, 93, 140, 152, 95}));
  // SHA-256 of the raw RGB rows, from an independent zlib + unfilter decode.
  EXPECT_EQ(sha256_hex(std::string_view(reinterpret_cast<const char*>(img.pixels.data()),
                                        img.pixels.size())),
            "d7e825312934c45dfaa86ac88d2ae35e8b41d9cda4cec4355f9be4fada63ed87");
}

TEST(Png, RejectsBadDimensionsAndANullBuffer) {
  const uint8_t px[3] = {};
  EXPECT_THROW(encode_png_rgb8(px, 0, 1), std::invalid_argument);
  EXPECT_THROW(encode_png_rgb8(px, 1, 0), std::invalid_argument);
  EXPECT_THROW(encode_png_rgb8(px, -4, 4), std::invalid_argument);
  EXPECT_THROW(encode_png_rgb8(px, 1 << 20, 1 << 20), std::invalid_argument);
  EXPECT_THROW(encode_png_rgb8(nullptr, 1, 1), std::invalid_argument);
  try {
    encode_png_rgb8(px, 0, 7);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("0x7"), std::string::npos) << e.what();
  }
}

TEST(Png, RejectsCorruptData) {
  const auto px = test_image(32, 32, 5);
  const std::string png = encode_png_rgb8(px.data(), 32, 32);
  EXPECT_THROW(decode_png(""), std::invalid_argument);
  EXPECT_THROW(decode_png("not a png at all"), std::invalid_argument);
  EXPECT_THROW(decode_png(png.substr(0, png.size() / 2)), std::invalid_argument);
  std::string bad_signature = png;
  bad_signature[1] = 'Q';
  try {
    decode_png(bad_signature);
    FAIL() << "decoded a PNG with a broken signature";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not a readable PNG"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sdxlw
