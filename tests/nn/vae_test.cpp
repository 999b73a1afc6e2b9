// The VAE on the tiny fixture checkpoint: decode against the diffusers goldens, encode shapes.

#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include "nn_test_util.h"

namespace sdxlw::nn {
namespace {

using test::JobTensors;
using test::max_abs_diff;
using test::tiny_model;

constexpr double kTol = 1e-3;

class VaeDecode : public ::testing::TestWithParam<std::string> {};

TEST_P(VaeDecode, DecodedImageMatchesDiffusers) {
  c10::InferenceMode guard;
  const JobTensors job(GetParam());
  const at::Tensor image = tiny_model().vae->decode(job.get("latents_final"));
  const double d = max_abs_diff(image, job.get("image_decoded"));
  EXPECT_LE(d, kTol);
  RecordProperty("image_decoded_max_abs_diff", test::sci(d));
}

// 01 square, 03 batch of 2, 04 portrait 64×128.
INSTANTIATE_TEST_SUITE_P(Jobs, VaeDecode,
                         ::testing::Values("01_euler_64", "03_dpmpp_2m_batch2", "04_dpmpp_2m_karras_64x128"));

TEST(VaeEncode, MomentsHaveLatentShapeAndSamplingIsSeeded) {
  c10::InferenceMode guard;
  const auto& vae = *tiny_model().vae;
  const JobTensors job("04_dpmpp_2m_karras_64x128");
  const at::Tensor image = job.get("image_decoded").clamp(-1, 1);  // [1, 3, 128, 64]
  const VaeMoments m = vae.encode(image);
  EXPECT_EQ(m.mean.sizes(), (c10::IntArrayRef{1, 4, 16, 8}));
  EXPECT_EQ(m.logvar.sizes(), m.mean.sizes());
  EXPECT_LE(m.logvar.max().item<double>(), 20.0);
  EXPECT_GE(m.logvar.min().item<double>(), -30.0);

  auto sample = [&](uint64_t seed) {
    return vae.sample_latents(m, at::make_generator<at::CPUGeneratorImpl>(seed));
  };
  EXPECT_TRUE(at::equal(sample(5), sample(5)));
  EXPECT_FALSE(at::equal(sample(5), sample(6)));
  const at::Tensor eps = at::randn({1, 4, 16, 8}, at::make_generator<at::CPUGeneratorImpl>(5));
  const at::Tensor expected = (m.mean + at::exp(0.5 * m.logvar) * eps) * 0.13025;
  EXPECT_LE(max_abs_diff(sample(5), expected), 1e-6);
  EXPECT_LE(max_abs_diff(vae.mean_latents(m), m.mean * 0.13025), 1e-7);
}

TEST(VaeEncode, RejectsImagesNotDivisibleByTheDownsamplingFactor) {
  EXPECT_THROW(tiny_model().vae->encode(at::zeros({1, 3, 60, 64})), std::invalid_argument);
  EXPECT_THROW(tiny_model().vae->decode(at::zeros({1, 3, 8, 8})), std::invalid_argument);
}

}  // namespace
}  // namespace sdxlw::nn
