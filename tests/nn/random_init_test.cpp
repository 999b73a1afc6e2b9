// Random weights for benchmarks: every slot filled, with the stated distributions.

#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <cmath>

#include "nn/conditioning.h"
#include "nn_test_util.h"

namespace sdxlw::nn {
namespace {

TEST(InitRandom, FillsEveryParameterWithScaledNormalWeightsUnitNormsAndSmallBiases) {
  c10::InferenceMode guard;
  SdxlModel m = build_sdxl_model(test::tiny_model().config);
  LoadOptions o;
  o.vae_dtype = at::kBFloat16;
  init_random(m, o, /*seed=*/7);
  for (const auto& slot : m.parameters()) {
    ASSERT_TRUE(slot.tensor->defined()) << slot.name;
    EXPECT_EQ(slot.tensor->sizes(), c10::IntArrayRef(slot.shape)) << slot.name;
    const bool vae = slot.name.rfind(kVaePrefix, 0) == 0;
    EXPECT_EQ(slot.tensor->scalar_type(), vae ? at::kBFloat16 : at::kFloat) << slot.name;
  }
  const at::Tensor& norm = m.unet->out_norm.weight;
  EXPECT_TRUE(at::equal(norm, at::ones_like(norm)));
  const at::Tensor& w = m.unet->label_emb_0.weight;  // [256, 1600]
  EXPECT_NEAR(w.std().item<double>(), 1.0 / std::sqrt(1600.0), 0.02 / std::sqrt(1600.0) * 10);
  EXPECT_NEAR(m.unet->label_emb_0.bias->std().item<double>(), 0.02, 0.004);
  const at::Tensor& conv = m.unet->out_conv.weight;  // [4, 64, 3, 3]: fan_in 576
  EXPECT_NEAR(conv.std().item<double>(), 1.0 / std::sqrt(576.0), 0.1 / std::sqrt(576.0));

  SdxlModel again = build_sdxl_model(m.config);
  init_random(again, o, 7);
  EXPECT_TRUE(at::equal(*again.parameters().back().tensor, *m.parameters().back().tensor));

  // A random model runs end to end with finite outputs.
  const at::Tensor ids = at::full({1, 77}, 49407, at::kLong);
  const at::Tensor ctx = at::cat({m.te1->penultimate(ids), m.te2->forward(ids).penultimate}, -1);
  const at::Tensor adm = sdxl_adm(m.te2->forward(ids).pooled, 64, 64, m.config.size_embed_dim);
  const at::Tensor eps = m.unet->forward(at::randn({1, 4, 8, 8}), at::tensor(500.0), ctx, adm);
  EXPECT_TRUE(at::isfinite(eps).all().item<bool>());
  EXPECT_TRUE(at::isfinite(m.vae->decode(eps)).all().item<bool>());
}

}  // namespace
}  // namespace sdxlw::nn
