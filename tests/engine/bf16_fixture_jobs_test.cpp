// Every fixture job through the engine with `--dtype bf16` on CPU (text encoders and UNet in
// bfloat16, VAE in float32) against the float32 diffusers reference PNGs: tests/fixtures/README.md
// §5 measured PSNR 36.1–39.7 dB for this mix; 30 dB is the acceptance floor it suggests.

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <memory>
#include <string>

#include "engine/sdxl_engine.h"
#include "engine_test_util.h"
#include "sampling/job_fixture.h"
#include "support/image_compare.h"

namespace sdxlw::engine {
namespace {

SdxlEngine& bf16_engine() {
  static const std::unique_ptr<SdxlEngine> engine = [] {
    EngineOptions options;
    options.device = "cpu";
    options.dtype = "bf16";
    options.warmup = false;
    return create_sdxl_engine(test::tiny_model_files(), options, test::test_pipeline_options());
  }();
  return *engine;
}

class Bf16FixtureJob : public ::testing::TestWithParam<std::string> {};

TEST_P(Bf16FixtureJob, StaysAbove30DbOfTheFloat32Reference) {
  const test::JobFixture job(GetParam());
  const GenerationRequest request = test::request_from_job(job.input());
  SdxlEngine& engine = bf16_engine();
  ASSERT_EQ(engine.pipeline().plan().unet_dtype, at::kBFloat16);
  ASSERT_EQ(engine.pipeline().plan().vae_dtype, at::kFloat);
  const GenerationResult result = engine.generate(request, nullptr);
  ASSERT_EQ(result.png_images.size(), static_cast<size_t>(request.num_images));
  for (int i = 0; i < request.num_images; ++i) {
    const std::string png = "jobs/" + GetParam() + "/image_" + std::to_string(i) + ".png";
    const test::ImageDiff diff =
        test::compare_png(result.png_images[static_cast<size_t>(i)], test::read_file_bytes(test::fixture(png)));
    std::printf("[ bf16 %s ] image %d vs fixture: %s\n", GetParam().c_str(), i, diff.describe().c_str());
    RecordProperty("psnr_db_image_" + std::to_string(i), std::to_string(diff.psnr_db));
    EXPECT_TRUE(diff.same_size);
    EXPECT_GE(diff.psnr_db, 30.0) << diff.describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Jobs, Bf16FixtureJob, ::testing::ValuesIn(test::fixture_job_names()), test::job_param_name);

}  // namespace
}  // namespace sdxlw::engine
