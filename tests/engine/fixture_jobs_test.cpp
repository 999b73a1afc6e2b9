// Every fixture job through the engine on CPU float32 against the diffusers reference
// (tests/fixtures/README.md §5): tokens exact, conditioning and step-0 UNet outputs within the
// suggested tolerances, final latents within 1e-3 of their max-abs, PNGs within 2 levels
// (mean ≤ 0.05).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "engine/pipeline.h"
#include "engine_test_util.h"
#include "sampling/job_fixture.h"
#include "support/image_compare.h"

namespace sdxlw::engine {
namespace {

using test::JobFixture;

struct Captured {
  TextConditioning text;
  at::Tensor input0, output0;  // step 0
  int unet_calls = 0;
  at::Tensor latents, decoded;
  std::vector<StepProgress> progress;
};

class FixtureJob : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureJob, MatchesDiffusersReference) {
  const JobFixture job(GetParam());
  const GenerationRequest request = test::request_from_job(job.input());
  const int64_t n = request.num_images;
  Pipeline& pipeline = test::shared_engine().pipeline();

  Captured c;
  PipelineHooks hooks;
  hooks.on_text = [&](const TextConditioning& t) { c.text = t; };
  hooks.on_unet = [&](int step, const at::Tensor& x, const at::Tensor& eps) {
    ++c.unet_calls;
    if (step == 0) {
      c.input0 = x.clone();
      c.output0 = eps.clone();
    }
  };
  hooks.on_latents = [&](const at::Tensor& l) { c.latents = l.clone(); };
  hooks.on_decoded = [&](const at::Tensor& d) { c.decoded = d.clone(); };

  const double cpu_start = test::process_cpu_seconds();
  const auto wall_start = std::chrono::steady_clock::now();
  const GenerationResult result = pipeline.generate(
      request, [&](const StepProgress& p) { c.progress.push_back(p); }, hooks);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const double cpu = test::process_cpu_seconds() - cpu_start;
  std::printf("[ %s ] CPU time %.2f s, wall %.2f s (%d×%d, %d steps, %lld image%s)\n", GetParam().c_str(), cpu, wall,
              request.width, request.height, request.steps, static_cast<long long>(n), n == 1 ? "" : "s");
  RecordProperty("cpu_seconds", std::to_string(cpu));

  // Tokens, after chunk-count equalisation.
  EXPECT_TRUE(at::equal(c.text.tokens.te1, job.tensor("tokens_te1")));
  EXPECT_TRUE(at::equal(c.text.tokens.te2, job.tensor("tokens_te2")));
  const bool zero_negative = request.negative_prompt.empty();
  EXPECT_EQ(c.text.tokens.zero_negative(), zero_negative);
  if (!zero_negative) {
    EXPECT_TRUE(at::equal(c.text.tokens.neg_te1, job.tensor("tokens_te1_neg")));
    EXPECT_TRUE(at::equal(c.text.tokens.neg_te2, job.tensor("tokens_te2_neg")));
  }

  // Conditioning (the uncond tensors are zeros when the negative prompt is "").
  const double cond_ctx = test::max_abs(c.text.cond_context, job.tensor("cond_context"));
  const double uncond_ctx = test::max_abs(c.text.uncond_context, job.tensor("uncond_context"));
  const double cond_pool = test::max_abs(c.text.cond_pooled, job.tensor("cond_pooled"));
  const double uncond_pool = test::max_abs(c.text.uncond_pooled, job.tensor("uncond_pooled"));
  EXPECT_LE(cond_ctx, 1e-4);
  EXPECT_LE(uncond_ctx, 1e-4);
  EXPECT_LE(cond_pool, 1e-4);
  EXPECT_LE(uncond_pool, 1e-4);

  // Step 0: the doubled batch (uncond first) and the UNet outputs.
  ASSERT_EQ(c.unet_calls, request.steps);
  ASSERT_EQ(c.input0.size(0), 2 * n);
  const at::Tensor ref_input = job.tensor("latent_model_input_step0");
  EXPECT_LE(test::max_rel_to_max_abs(c.input0.narrow(0, 0, n), ref_input), 1e-6);
  EXPECT_LE(test::max_rel_to_max_abs(c.input0.narrow(0, n, n), ref_input), 1e-6);
  const double eps_uncond = test::max_abs(c.output0.narrow(0, 0, n), job.tensor("eps_uncond_step0"));
  const double eps_cond = test::max_abs(c.output0.narrow(0, n, n), job.tensor("eps_cond_step0"));
  EXPECT_LE(eps_uncond, 1e-3);
  EXPECT_LE(eps_cond, 1e-3);

  const double latents_rel = test::max_rel_to_max_abs(c.latents, job.tensor("latents_final"));
  EXPECT_LE(latents_rel, 1e-3);
  const double decoded = test::max_abs(c.decoded, job.tensor("image_decoded"));

  // PNGs.
  ASSERT_EQ(result.png_images.size(), static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto expected =
        test::read_file_bytes(test::fixture("jobs/" + GetParam() + "/image_" + std::to_string(i) + ".png"));
    const test::ImageDiff diff = test::compare_png(result.png_images[static_cast<size_t>(i)], expected);
    std::printf("[ %s ] image %lld vs fixture: %s\n", GetParam().c_str(), static_cast<long long>(i),
                diff.describe().c_str());
    EXPECT_TRUE(diff.same_size);
    EXPECT_LE(diff.max_abs, 2);
    EXPECT_LE(diff.mean_abs, 0.05);
  }
  std::printf(
      "[ %s ] max abs diff: context %.2g / %.2g, pooled %.2g / %.2g, eps0 %.2g / %.2g; latents_final "
      "rel %.2g; image_decoded %.2g\n",
      GetParam().c_str(), cond_ctx, uncond_ctx, cond_pool, uncond_pool, eps_cond, eps_uncond, latents_rel, decoded);

  // Result fields and progress.
  EXPECT_EQ(result.seed, request.seed);
  ASSERT_EQ(result.loras.size(), request.loras->size());
  for (size_t i = 0; i < result.loras.size(); ++i) {
    EXPECT_EQ(result.loras[i].name, (*request.loras)[i].name);
    EXPECT_EQ(result.loras[i].scale, (*request.loras)[i].scale);
    EXPECT_EQ(result.loras[i].unmatched_keys, 0);
  }
  ASSERT_EQ(c.progress.size(), static_cast<size_t>(request.steps));
  for (size_t i = 0; i < c.progress.size(); ++i) {
    EXPECT_EQ(c.progress[i].step, static_cast<int>(i) + 1);
    EXPECT_EQ(c.progress[i].total, request.steps);
  }
  const GenerationTimings& t = result.timings;
  EXPECT_GT(t.text_encode_ms, 0);
  EXPECT_GT(t.denoise_ms, 0);
  EXPECT_GT(t.decode_ms, 0);
  EXPECT_GT(t.encode_png_ms, 0);
  EXPECT_GE(t.total_ms, t.text_encode_ms + t.denoise_ms + t.decode_ms + t.encode_png_ms);
}

INSTANTIATE_TEST_SUITE_P(Jobs, FixtureJob, ::testing::ValuesIn(test::fixture_job_names()), test::job_param_name);

}  // namespace
}  // namespace sdxlw::engine
