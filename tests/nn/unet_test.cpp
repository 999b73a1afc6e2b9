// The UNet's first denoising step on the tiny fixture checkpoint against the diffusers goldens.

#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include "nn/conditioning.h"
#include "nn_test_util.h"

namespace sdxlw::nn {
namespace {

using test::JobTensors;
using test::max_abs_diff;
using test::tiny_model;

constexpr double kTol = 1e-3;  // fixtures README "suggested acceptance": eps_*_step0

// README §2 step 8: x = [latents, latents], context batch [neg…, cond…], same time ids.
std::pair<at::Tensor, at::Tensor> unet_step0(const JobTensors& job) {
  const auto& m = tiny_model();
  const at::Tensor x = job.get("latent_model_input_step0");  // [N, 4, h, w]
  const int64_t n = x.size(0);
  const at::Tensor context = at::cat({job.get("uncond_context").unsqueeze(0).expand({n, -1, -1}),
                                      job.get("cond_context").unsqueeze(0).expand({n, -1, -1})});
  const at::Tensor pooled = at::cat({job.get("uncond_pooled").unsqueeze(0).expand({n, -1}),
                                     job.get("cond_pooled").unsqueeze(0).expand({n, -1})});
  const at::Tensor adm = sdxl_adm(pooled, job.get("time_ids"), m.config.size_embed_dim);
  const at::Tensor t = job.get("timesteps")[0];
  const at::Tensor eps = m.unet->forward(at::cat({x, x}), t, context, adm);
  return {eps.narrow(0, 0, n), eps.narrow(0, n, n)};
}

class UNetStep0 : public ::testing::TestWithParam<std::string> {};

TEST_P(UNetStep0, CondAndUncondNoiseMatchDiffusers) {
  c10::InferenceMode guard;
  const JobTensors job(GetParam());
  const auto [uncond, cond] = unet_step0(job);
  const double du = max_abs_diff(uncond, job.get("eps_uncond_step0"));
  const double dc = max_abs_diff(cond, job.get("eps_cond_step0"));
  EXPECT_LE(du, kTol);
  EXPECT_LE(dc, kTol);
  RecordProperty("eps_uncond_max_abs_diff", test::sci(du));
  RecordProperty("eps_cond_max_abs_diff", test::sci(dc));
}

// 01 baseline, 02 non-square, 03 batch of 2, 05 zero negative, 06 two-chunk (154-token) context.
INSTANTIATE_TEST_SUITE_P(Jobs, UNetStep0,
                         ::testing::Values("01_euler_64", "02_euler_a_128x64", "03_dpmpp_2m_batch2",
                                           "05_ddim_empty_negative", "06_long_prompt_chunks"));

TEST(UNet, RunsInBfloat16CloseToFloat32) {
  c10::InferenceMode guard;
  const JobTensors job("01_euler_64");
  // Same weights, cast to bfloat16: compute follows the weights' dtype, output follows x's.
  SdxlModel bf = build_sdxl_model(tiny_model().config);
  const auto src = tiny_model().unet->parameters(), dst = bf.unet->parameters();
  for (size_t i = 0; i < src.size(); ++i) *dst[i].tensor = src[i].tensor->to(at::kBFloat16);
  const at::Tensor x = job.get("latent_model_input_step0");
  const at::Tensor adm = sdxl_adm(job.get("cond_pooled").unsqueeze(0), job.get("time_ids"), bf.config.size_embed_dim);
  const at::Tensor eps = bf.unet->forward(x, job.get("timesteps")[0], job.get("cond_context").unsqueeze(0), adm);
  EXPECT_EQ(eps.scalar_type(), at::kFloat);
  const at::Tensor ref = job.get("eps_cond_step0");
  const double rel = max_abs_diff(eps, ref) / ref.abs().max().item<double>();
  EXPECT_LT(rel, 0.05);
  RecordProperty("bf16_relative_max_diff", test::sci(rel));
}

TEST(UNet, SpatialTransformerReturnsTheInputsContiguousLayout) {
  c10::InferenceMode guard;
  const auto& block = *tiny_model().unet->input_blocks[4];  // ResBlock + SpatialTransformer at 128 channels
  const at::Tensor x = at::randn({2, 64, 4, 6});
  const at::Tensor out = block.forward(x, at::randn({2, 256}), at::randn({2, 77, 128}));
  EXPECT_EQ(out.sizes(), (c10::IntArrayRef{2, 128, 4, 6}));
  EXPECT_TRUE(out.is_contiguous());
}

TEST(UNet, RejectsLatentsTheUNetCannotDownsample) {
  const auto& m = tiny_model();
  const at::Tensor ctx = at::zeros({1, 77, 128});
  const at::Tensor adm = at::zeros({1, 1600});
  EXPECT_THROW(m.unet->forward(at::zeros({1, 4, 6, 8}), at::tensor(1.0), ctx, adm), std::invalid_argument);
  EXPECT_THROW(m.unet->forward(at::zeros({1, 4, 8, 8}), at::tensor(1.0), at::zeros({1, 77, 64}), adm),
               std::invalid_argument);
  EXPECT_THROW(m.unet->forward(at::zeros({1, 4, 8, 8}), at::tensor(1.0), ctx, at::zeros({1, 1599})),
               std::invalid_argument);
}

}  // namespace
}  // namespace sdxlw::nn
