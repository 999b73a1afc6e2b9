// Raw VAE output → 8-bit RGB: the fixture PNGs were made from `image_decoded` by the same
// float32 formula, so converting the reference tensor must reproduce them exactly.

#include "engine/image_output.h"

#include <gtest/gtest.h>

#include "io/png.h"
#include "sampling/job_fixture.h"
#include "support/image_compare.h"

namespace sdxlw::engine {
namespace {

TEST(ImageOutput, ReferenceDecoderOutputGivesTheFixturePngsExactly) {
  for (const auto& name : test::fixture_job_names()) {
    const test::JobFixture job(name);
    const at::Tensor rgb8 = to_rgb8(job.tensor("image_decoded"));
    const std::vector<std::string> pngs = encode_pngs(rgb8);
    ASSERT_EQ(static_cast<int64_t>(pngs.size()), job.input().at("num_images").get<int64_t>());
    for (size_t i = 0; i < pngs.size(); ++i) {
      const auto expected =
          test::read_file_bytes(test::fixture("jobs/" + name + "/image_" + std::to_string(i) + ".png"));
      const test::ImageDiff diff = test::compare_png(pngs[i], expected);
      EXPECT_EQ(diff.max_abs, 0) << name << " image " << i << ": " << diff.describe();
    }
  }
}

TEST(ImageOutput, ClampsToTheByteRangeAndLaysOutHwc) {
  const at::Tensor x = at::tensor({-3.0f, -1.0f, 0.0f, 0.5f, 1.0f, 5.0f}).reshape({1, 3, 1, 2});
  const at::Tensor rgb = to_rgb8(x);
  ASSERT_EQ(rgb.sizes(), at::IntArrayRef({1, 1, 2, 3}));
  ASSERT_EQ(rgb.scalar_type(), at::kByte);
  // HWC: pixel 0 holds channels (x0, x2, x4), pixel 1 holds (x1, x3, x5).
  const std::vector<uint8_t> expected = {0, 128, 255, 0, 191, 255};  // 127.5 → 128, 191.25 → 191
  EXPECT_EQ(std::vector<uint8_t>(rgb.data_ptr<uint8_t>(), rgb.data_ptr<uint8_t>() + 6), expected);
}

TEST(ImageOutput, EncodePngsRejectsWrongLayouts) {
  EXPECT_THROW(encode_pngs(at::zeros({1, 3, 8, 8}, at::kByte)), std::invalid_argument);
  EXPECT_THROW(encode_pngs(at::zeros({1, 8, 8, 3}, at::kFloat)), std::invalid_argument);
  const auto pngs = encode_pngs(at::full({2, 4, 6, 3}, 7, at::kByte));
  ASSERT_EQ(pngs.size(), 2u);
  const DecodedImage img = decode_png(pngs[1]);
  EXPECT_EQ(img.width, 6);
  EXPECT_EQ(img.height, 4);
  EXPECT_EQ(img.pixels[0], 7);
}

}  // namespace
}  // namespace sdxlw::engine
