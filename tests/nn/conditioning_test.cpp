// Timestep embeddings, the SDXL adm vector and the attention paths.

#include <gtest/gtest.h>

#include <cmath>

#include "nn/attention.h"
#include "nn/conditioning.h"

namespace sdxlw::nn {
namespace {

TEST(TimestepEmbedding, IsCosFirstThenSinWithGeometricFrequencies) {
  const at::Tensor e = timestep_embedding(at::tensor({0.0f, 999.0f, 12.5f}), 8);
  ASSERT_EQ(e.sizes(), (c10::IntArrayRef{3, 8}));
  EXPECT_EQ(e.scalar_type(), at::kFloat);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(e[0][i].item<float>(), 1.0f);  // cos(0)
    EXPECT_FLOAT_EQ(e[0][4 + i].item<float>(), 0.0f);  // sin(0)
    const double f = std::exp(-std::log(10000.0) * i / 4);
    EXPECT_NEAR(e[2][i].item<float>(), std::cos(12.5 * f), 1e-5);
    EXPECT_NEAR(e[2][4 + i].item<float>(), std::sin(12.5 * f), 1e-5);
  }
  EXPECT_NEAR(e[1][0].item<float>(), std::cos(999.0), 1e-4);
  EXPECT_EQ(timestep_embedding(at::tensor({3.0f}), 7).sizes(), (c10::IntArrayRef{1, 7}));
}

TEST(SdxlAdm, PooledComesFirstThenHeightWidthCropTarget) {
  const at::Tensor pooled = at::arange(10, at::kFloat).view({2, 5});
  const at::Tensor adm = sdxl_adm(pooled, /*height=*/128, /*width=*/64, /*embed_dim=*/4);
  ASSERT_EQ(adm.sizes(), (c10::IntArrayRef{2, 5 + 6 * 4}));
  EXPECT_TRUE(at::equal(adm.narrow(1, 0, 5), pooled));
  const at::Tensor emb = timestep_embedding(at::tensor({128.0f, 64.0f, 0.0f, 0.0f, 128.0f, 64.0f}), 4);
  for (int64_t b = 0; b < 2; ++b) EXPECT_TRUE(at::equal(adm[b].narrow(0, 5, 24), emb.reshape({24})));
  EXPECT_TRUE(at::equal(sdxl_time_ids(128, 64), at::tensor({128.0f, 64.0f, 0.0f, 0.0f, 128.0f, 64.0f})));
  EXPECT_THROW(sdxl_adm(pooled, at::zeros({5}), 4), std::invalid_argument);
}

// softmax(q kᵀ/√d) v per head, written out with explicit loops over heads.
at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                               bool causal) {
  const int64_t d = q.size(2) / heads;
  std::vector<at::Tensor> outs;
  for (int64_t h = 0; h < heads; ++h) {
    const at::Tensor qh = q.narrow(2, h * d, d).to(at::kDouble), kh = k.narrow(2, h * d, d).to(at::kDouble);
    at::Tensor s = at::matmul(qh, kh.transpose(1, 2)) / std::sqrt(static_cast<double>(d));
    if (causal) {
      const at::Tensor mask = at::ones({q.size(1), k.size(1)}, at::kBool).triu(1);
      s = s.masked_fill(mask, -INFINITY);
    }
    outs.push_back(at::matmul(at::softmax(s, -1), v.narrow(2, h * d, d).to(at::kDouble)));
  }
  return at::cat(outs, 2).to(at::kFloat);
}

TEST(Attention, MatchesReferenceWithAndWithoutCausalMask) {
  at::manual_seed(0);
  const at::Tensor q = at::randn({2, 9, 12}), k = at::randn({2, 9, 12}), v = at::randn({2, 9, 12});
  for (bool causal : {false, true}) {
    const at::Tensor ref = reference_attention(q, k, v, 3, causal);
    EXPECT_TRUE(at::allclose(multi_head_attention(q, k, v, 3, causal), ref, 1e-5, 1e-5)) << causal;
  }
  const at::Tensor kc = at::randn({2, 5, 12}), vc = at::randn({2, 5, 12});
  EXPECT_TRUE(at::allclose(multi_head_attention(q, kc, vc, 2), reference_attention(q, kc, vc, 2, false), 1e-5, 1e-5));
}

TEST(Attention, PlainPathGivesTheSameResultWhenSlicedToABudget) {
  at::manual_seed(1);
  const at::Tensor q = at::randn({2, 40, 16}), k = at::randn({2, 40, 16}), v = at::randn({2, 40, 16});
  for (bool causal : {false, true}) {
    const at::Tensor ref = reference_attention(q, k, v, 2, causal);
    // Budgets: everything at once; whole heads per slice; a few query rows of one head per slice.
    for (int64_t budget : {int64_t{1} << 30, int64_t{40 * 40 * 4 * 2}, int64_t{40 * 4 * 3}}) {
      EXPECT_TRUE(at::allclose(plain_multi_head_attention(q, k, v, 2, causal, budget), ref, 1e-5, 1e-5))
          << "causal " << causal << " budget " << budget;
    }
  }
}

TEST(Attention, RejectsWidthsThatDoNotSplitIntoHeads) {
  const at::Tensor x = at::zeros({1, 4, 10});
  EXPECT_THROW(multi_head_attention(x, x, x, 3), std::invalid_argument);
}

}  // namespace
}  // namespace sdxlw::nn
