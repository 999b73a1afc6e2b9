// Both text towers on the tiny fixture checkpoint against the diffusers goldens (README §2 step 3).

#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include "nn_test_util.h"

namespace sdxlw::nn {
namespace {

using test::JobTensors;
using test::max_abs_diff;
using test::tiny_model;

constexpr double kTol = 1e-4;  // fixtures README "suggested acceptance": context / pooled

struct Encoded {
  at::Tensor context;  // [n·77, 128]
  at::Tensor pooled;   // [64], first chunk
};

Encoded encode(const at::Tensor& ids_te1, const at::Tensor& ids_te2) {
  const auto& m = tiny_model();
  const at::Tensor h1 = m.te1->penultimate(ids_te1);  // [n, 77, 64]
  const OpenClipOutput o2 = m.te2->forward(ids_te2);
  const at::Tensor ctx = at::cat({h1, o2.penultimate}, -1);  // [n, 77, 128]
  return {ctx.reshape({-1, ctx.size(2)}), o2.pooled[0]};
}

class TextEncoders : public ::testing::TestWithParam<std::string> {};

TEST_P(TextEncoders, ContextAndPooledMatchDiffusers) {
  c10::InferenceMode guard;
  const JobTensors job(GetParam());
  const Encoded cond = encode(job.get("tokens_te1"), job.get("tokens_te2"));
  const double ctx_diff = max_abs_diff(cond.context, job.get("cond_context"));
  const double pooled_diff = max_abs_diff(cond.pooled, job.get("cond_pooled"));
  EXPECT_LE(ctx_diff, kTol);
  EXPECT_LE(pooled_diff, kTol);
  RecordProperty("cond_context_max_abs_diff", test::sci(ctx_diff));
  RecordProperty("cond_pooled_max_abs_diff", test::sci(pooled_diff));
  if (job.has("tokens_te1_neg")) {
    const Encoded uncond = encode(job.get("tokens_te1_neg"), job.get("tokens_te2_neg"));
    EXPECT_LE(max_abs_diff(uncond.context, job.get("uncond_context")), kTol);
    EXPECT_LE(max_abs_diff(uncond.pooled, job.get("uncond_pooled")), kTol);
  }
}

INSTANTIATE_TEST_SUITE_P(Jobs, TextEncoders,
                         ::testing::Values("01_euler_64", "02_euler_a_128x64", "06_long_prompt_chunks",
                                           "08_euler_a_batch2_long_negative"));

TEST(TextEncoders, PooledRowIsTheFirstEndOfTextToken) {
  c10::InferenceMode guard;
  const auto& m = tiny_model();
  // The same 5 leading ids with different padding after the EOS: the causal mask keeps the pooled
  // EOS row and every row before it identical.
  at::Tensor a = at::zeros({1, 77}, at::kLong), b = at::zeros({1, 77}, at::kLong);
  const int64_t ids[] = {49406, 320, 1125, 539, 49407};
  for (int i = 0; i < 5; ++i) a[0][i] = b[0][i] = ids[i];
  b.narrow(1, 5, 72).fill_(49407);
  const OpenClipOutput oa = m.te2->forward(a), ob = m.te2->forward(b);
  EXPECT_LE(max_abs_diff(oa.pooled, ob.pooled), 1e-6);
  EXPECT_LE(max_abs_diff(oa.penultimate.narrow(1, 0, 5), ob.penultimate.narrow(1, 0, 5)), 1e-6);
  EXPECT_GT(max_abs_diff(oa.penultimate.narrow(1, 5, 72), ob.penultimate.narrow(1, 5, 72)), 1e-2);
}

TEST(TextEncoders, TextProjectionWeightKeyIsAppliedTransposed) {
  c10::InferenceMode guard;
  OpenClipTextConfig c = tiny_model().te2->config();
  c.projection_is_linear = true;
  OpenClipTextModel linear(c);
  std::vector<ParamSlot> src;  // te2's slots, named without the checkpoint prefix
  const std::string prefix = std::string(kTe2Prefix) + ".";
  for (auto slot : tiny_model().parameters()) {
    if (slot.name.rfind(prefix, 0) == 0) src.push_back({slot.name.substr(prefix.size()), slot.shape, slot.tensor});
  }
  const auto dst = linear.parameters();
  ASSERT_EQ(src.size(), dst.size());
  for (size_t i = 0; i < src.size(); ++i) {
    const bool proj = dst[i].name == "text_projection.weight";
    EXPECT_EQ(proj ? "text_projection" : dst[i].name, src[i].name);
    *dst[i].tensor = proj ? src[i].tensor->t().contiguous() : *src[i].tensor;  // stored as [P, W] = Pᵀ
  }
  const JobTensors job("01_euler_64");
  const at::Tensor ids = job.get("tokens_te2");
  EXPECT_LE(max_abs_diff(linear.forward(ids).pooled[0], job.get("cond_pooled")), kTol);
}

TEST(TextEncoders, RejectsSequencesLongerThanThePositionTable) {
  const auto& m = tiny_model();
  EXPECT_THROW(m.te1->penultimate(at::zeros({1, 78}, at::kLong)), std::invalid_argument);
  EXPECT_THROW(m.te2->forward(at::zeros({78}, at::kLong)), std::invalid_argument);
}

}  // namespace
}  // namespace sdxlw::nn
