// LoRA file variants against their formulas written out element by element (in double).

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "lora/lora_set.h"
#include "lora_test_util.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

using lora::LoraSet;
using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

const std::string kConv3 =
    "model.diffusion_model.input_blocks.1.0.in_layers.2.weight";  // [6, 4, 3, 3]
const std::string kLinear = "model.diffusion_model.input_blocks.4.1.proj_in.weight";  // [6, 8]
const std::string kConv1 =
    "model.diffusion_model.input_blocks.4.0.skip_connection.weight";  // [6, 4, 1, 1]
const std::string kInProj =
    "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight";  // [12, 4]

class SmallModel : public ::testing::Test {
 protected:
  SmallModel() : gen_(at::detail::createCPUGenerator(1234)) {
    base_.add(kConv3, randn({6, 4, 3, 3}));
    base_.add(kLinear, randn({6, 8}));
    base_.add(kConv1, randn({6, 4, 1, 1}));
    base_.add(kInProj, randn({12, 4}));
  }

  at::Tensor randn(std::vector<int64_t> shape) { return at::randn(shape, gen_); }
  static at::Tensor scalar(double v) { return at::full({}, v, at::kFloat); }

  // Merges `tensors` (written as a file) at `scale` into a copy of the base weights.
  test::Weights merged(const Tensors& tensors, double scale) {
    const std::string path = (dir_ / ("lora" + std::to_string(files_++) + ".safetensors")).string();
    test::write_lora(path, tensors);
    test::Weights w = base_.clone();
    LoraSet set(w.slots(), {{"x", path, 1.0}});
    set.apply({{"x", scale}});
    return w;
  }

  // Every weight but `name` unchanged; `name` equals base + expected delta.
  void expect_delta(const test::Weights& w, const std::string& name, const at::Tensor& delta) {
    for (const auto& [n, t] : w.items()) {
      if (n == name) {
        const at::Tensor expected = base_[n].to(at::kDouble) + delta;
        EXPECT_LE(test::max_abs_diff(t, expected), 1e-5) << n;
        EXPECT_GT(test::max_abs_diff(t, base_[n]), 1e-3) << n << " did not change";
      } else {
        EXPECT_TRUE(at::equal(t, base_[n])) << n;
      }
    }
  }

  test::TempDir dir_;
  int files_ = 0;
  at::Generator gen_;
  test::Weights base_;
};

at::Tensor d(const at::Tensor& t) { return t.to(at::kDouble).contiguous(); }

TEST_F(SmallModel, LoHaMergeMatchesItsFormula) {
  const at::Tensor w1a = randn({6, 2}), w1b = randn({2, 8}), w2a = randn({6, 3}),
                   w2b = randn({3, 8});
  const test::Weights w = merged({{"lora_unet_input_blocks_4_1_proj_in.hada_w1_a", w1a},
                                  {"lora_unet_input_blocks_4_1_proj_in.hada_w1_b", w1b},
                                  {"lora_unet_input_blocks_4_1_proj_in.hada_w2_a", w2a},
                                  {"lora_unet_input_blocks_4_1_proj_in.hada_w2_b", w2b},
                                  {"lora_unet_input_blocks_4_1_proj_in.alpha", scalar(1.5)}},
                                 0.7);
  auto A1 = d(w1a), B1 = d(w1b), A2 = d(w2a), B2 = d(w2b);
  at::Tensor delta = at::zeros({6, 8}, at::kDouble);
  for (int o = 0; o < 6; ++o)
    for (int i = 0; i < 8; ++i) {
      double p1 = 0, p2 = 0;
      for (int r = 0; r < 2; ++r) p1 += A1[o][r].item<double>() * B1[r][i].item<double>();
      for (int r = 0; r < 3; ++r) p2 += A2[o][r].item<double>() * B2[r][i].item<double>();
      delta[o][i] = 0.7 * (1.5 / 2) * p1 * p2;  // rank = rows of hada_w1_b
    }
  expect_delta(w, kLinear, delta);
}

TEST_F(SmallModel, LoHaOnAConvWithKernelShapedFactorsMatchesItsFormula) {
  const at::Tensor w1a = randn({6, 2}), w1b = randn({2, 4, 3, 3}), w2a = randn({6, 2}),
                   w2b = randn({2, 4, 3, 3});
  const std::string m = "lora_unet_input_blocks_1_0_in_layers_2";
  const test::Weights w = merged({{m + ".hada_w1_a", w1a},
                                  {m + ".hada_w1_b", w1b},
                                  {m + ".hada_w2_a", w2a},
                                  {m + ".hada_w2_b", w2b}},
                                 1.0);  // no alpha: scale 1
  auto A1 = d(w1a), B1 = d(w1b), A2 = d(w2a), B2 = d(w2b);
  at::Tensor delta = at::zeros({6, 4, 3, 3}, at::kDouble);
  for (int o = 0; o < 6; ++o)
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 3; ++k)
        for (int l = 0; l < 3; ++l) {
          double p1 = 0, p2 = 0;
          for (int r = 0; r < 2; ++r) {
            p1 += A1[o][r].item<double>() * B1[r][i][k][l].item<double>();
            p2 += A2[o][r].item<double>() * B2[r][i][k][l].item<double>();
          }
          delta[o][i][k][l] = p1 * p2;
        }
  expect_delta(w, kConv3, delta);
}

TEST_F(SmallModel, LoHaWithTuckerCoresMatchesItsFormula) {
  // Tucker form: w_a [r, out], w_b [r, in], t [r, r, kh, kw];
  // m[p, q, k, l] = Σ_ij t[i, j, k, l] · w_b[j, q] · w_a[i, p].
  const at::Tensor t1 = randn({2, 2, 3, 3}), w1a = randn({2, 6}), w1b = randn({2, 4});
  const at::Tensor t2 = randn({3, 3, 3, 3}), w2a = randn({3, 6}), w2b = randn({3, 4});
  const std::string m = "lora_unet_input_blocks_1_0_in_layers_2";
  const test::Weights w = merged({{m + ".hada_t1", t1},
                                  {m + ".hada_w1_a", w1a},
                                  {m + ".hada_w1_b", w1b},
                                  {m + ".hada_t2", t2},
                                  {m + ".hada_w2_a", w2a},
                                  {m + ".hada_w2_b", w2b},
                                  {m + ".alpha", scalar(1.0)}},
                                 1.2);
  auto T1 = d(t1), A1 = d(w1a), B1 = d(w1b), T2 = d(t2), A2 = d(w2a), B2 = d(w2b);
  at::Tensor delta = at::zeros({6, 4, 3, 3}, at::kDouble);
  for (int p = 0; p < 6; ++p)
    for (int q = 0; q < 4; ++q)
      for (int k = 0; k < 3; ++k)
        for (int l = 0; l < 3; ++l) {
          double m1 = 0, m2 = 0;
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j)
              m1 +=
                  T1[i][j][k][l].item<double>() * B1[j][q].item<double>() * A1[i][p].item<double>();
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j)
              m2 +=
                  T2[i][j][k][l].item<double>() * B2[j][q].item<double>() * A2[i][p].item<double>();
          delta[p][q][k][l] = 1.2 * (1.0 / 2) * m1 * m2;
        }
  expect_delta(w, kConv3, delta);
}

TEST_F(SmallModel, LoKrWithADecomposedFactorMatchesKronFormula) {
  const at::Tensor w1 = randn({2, 2}), w2a = randn({3, 2}), w2b = randn({2, 4});
  const std::string m = "lora_unet_input_blocks_4_1_proj_in";
  const test::Weights w = merged({{m + ".lokr_w1", w1},
                                  {m + ".lokr_w2_a", w2a},
                                  {m + ".lokr_w2_b", w2b},
                                  {m + ".alpha", scalar(1.0)}},
                                 0.9);
  auto W1 = d(w1), A = d(w2a), B = d(w2b);
  at::Tensor delta = at::zeros({6, 8}, at::kDouble);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int p = 0; p < 3; ++p)
        for (int q = 0; q < 4; ++q) {
          double w2 = 0;
          for (int r = 0; r < 2; ++r) w2 += A[p][r].item<double>() * B[r][q].item<double>();
          delta[a * 3 + p][b * 4 + q] = 0.9 * (1.0 / 2) * W1[a][b].item<double>() * w2;
        }
  expect_delta(w, kLinear, delta);
}

TEST_F(SmallModel, LoKrWithBothFactorsFullIgnoresAlpha) {
  const at::Tensor w1 = randn({3, 2}), w2 = randn({2, 4});
  const std::string m = "lora_unet_input_blocks_4_1_proj_in";
  const test::Weights w =
      merged({{m + ".lokr_w1", w1}, {m + ".lokr_w2", w2}, {m + ".alpha", scalar(7.0)}}, 0.5);
  auto W1 = d(w1), W2 = d(w2);
  at::Tensor delta = at::zeros({6, 8}, at::kDouble);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 2; ++b)
      for (int p = 0; p < 2; ++p)
        for (int q = 0; q < 4; ++q)
          delta[a * 2 + p][b * 4 + q] = 0.5 * W1[a][b].item<double>() * W2[p][q].item<double>();
  expect_delta(w, kLinear, delta);
}

TEST_F(SmallModel, LoKrOnAConvWithTuckerCoreMatchesKronFormula) {
  const at::Tensor w1 = randn({2, 2}), t2 = randn({2, 2, 3, 3}), w2a = randn({2, 3}),
                   w2b = randn({2, 2});
  const std::string m = "lora_unet_input_blocks_1_0_in_layers_2";
  const test::Weights w = merged({{m + ".lokr_w1", w1},
                                  {m + ".lokr_t2", t2},
                                  {m + ".lokr_w2_a", w2a},
                                  {m + ".lokr_w2_b", w2b},
                                  {m + ".alpha", scalar(4.0)}},
                                 1.0);
  auto W1 = d(w1), T = d(t2), A = d(w2a), B = d(w2b);
  at::Tensor delta = at::zeros({6, 4, 3, 3}, at::kDouble);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int p = 0; p < 3; ++p)
        for (int q = 0; q < 2; ++q)
          for (int k = 0; k < 3; ++k)
            for (int l = 0; l < 3; ++l) {
              double w2 = 0;
              for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 2; ++j)
                  w2 += T[i][j][k][l].item<double>() * B[j][q].item<double>() *
                        A[i][p].item<double>();
              delta[a * 3 + p][b * 2 + q][k][l] = (4.0 / 2) * W1[a][b].item<double>() * w2;
            }
  expect_delta(w, kConv3, delta);
}

TEST_F(SmallModel, LoKrOnAConvWithKernelOnW2bMatchesKronFormula) {
  const at::Tensor w1 = randn({2, 2}), w2a = randn({3, 2}), w2b = randn({2, 2, 3, 3});
  const std::string m = "lora_unet_input_blocks_1_0_in_layers_2";
  const test::Weights w =
      merged({{m + ".lokr_w1", w1}, {m + ".lokr_w2_a", w2a}, {m + ".lokr_w2_b", w2b}}, 1.0);
  auto W1 = d(w1), A = d(w2a), B = d(w2b);
  at::Tensor delta = at::zeros({6, 4, 3, 3}, at::kDouble);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int p = 0; p < 3; ++p)
        for (int q = 0; q < 2; ++q)
          for (int k = 0; k < 3; ++k)
            for (int l = 0; l < 3; ++l) {
              double w2 = 0;
              for (int r = 0; r < 2; ++r)
                w2 += A[p][r].item<double>() * B[r][q][k][l].item<double>();
              delta[a * 3 + p][b * 2 + q][k][l] =
                  W1[a][b].item<double>() * w2;  // no alpha: scale 1
            }
  expect_delta(w, kConv3, delta);
}

TEST_F(SmallModel, LoConWithTuckerMidMatchesItsFormula) {
  const at::Tensor down = randn({2, 4, 1, 1}), mid = randn({2, 2, 3, 3}), up = randn({6, 2, 1, 1});
  const std::string m = "lora_unet_input_blocks_1_0_in_layers_2";
  const test::Weights w = merged({{m + ".lora_down.weight", down},
                                  {m + ".lora_mid.weight", mid},
                                  {m + ".lora_up.weight", up},
                                  {m + ".alpha", scalar(1.0)}},
                                 1.0);
  auto D = d(down), M = d(mid), U = d(up);
  at::Tensor delta = at::zeros({6, 4, 3, 3}, at::kDouble);
  for (int o = 0; o < 6; ++o)
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 3; ++k)
        for (int l = 0; l < 3; ++l) {
          double s = 0;
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b)
              s += U[o][a][0][0].item<double>() * M[a][b][k][l].item<double>() *
                   D[b][i][0][0].item<double>();
          delta[o][i][k][l] = 0.5 * s;
        }
  expect_delta(w, kConv3, delta);
}

TEST_F(SmallModel, LoraWithoutAlphaHasScaleOne) {
  const at::Tensor down = randn({2, 4, 1, 1}), up = randn({6, 2, 1, 1});
  const test::Weights w =
      merged({{"lora_unet_input_blocks_4_0_skip_connection.lora_down.weight", down},
              {"lora_unet_input_blocks_4_0_skip_connection.lora_up.weight", up}},
             0.6);
  const at::Tensor delta =
      0.6 * at::mm(d(up).reshape({6, 2}), d(down).reshape({2, 4})).reshape({6, 4, 1, 1});
  expect_delta(w, kConv1, delta);
}

TEST_F(SmallModel, BigGKeyProjectionChangesOnlyItsRowsOfInProj) {
  const at::Tensor down = randn({2, 4}), up = randn({4, 2});
  const std::string m = "lora_te2_text_model_encoder_layers_0_self_attn_k_proj";
  test::Weights w = merged(
      {{m + ".lora_down.weight", down}, {m + ".lora_up.weight", up}, {m + ".alpha", scalar(1.0)}},
      1.0);
  at::Tensor delta = at::zeros({12, 4}, at::kDouble);
  delta.narrow(0, 4, 4).copy_(0.5 * at::mm(d(up), d(down)));
  expect_delta(w, kInProj, delta);
  EXPECT_TRUE(at::equal(w[kInProj].narrow(0, 0, 4), base_[kInProj].narrow(0, 0, 4)));
  EXPECT_TRUE(at::equal(w[kInProj].narrow(0, 8, 4), base_[kInProj].narrow(0, 8, 4)));
}

// A LoRA whose modules use diffusers / PEFT names merges exactly like the kohya-named one.
TEST(LoraFormats, DiffusersAndPeftNamedLorasMergeLikeKohyaNamedOnes) {
  const auto all = test::read_all(test::fixture_lora_path());
  auto get = [&](const std::string& name) {
    for (const auto& [n, t] : all)
      if (n == name) return t;
    throw std::out_of_range(name);
  };
  const std::vector<std::pair<std::string, std::string>> renames = {
      {"lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q",
       "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"},
      {"lora_unet_output_blocks_2_2_conv", "lora_unet_up_blocks_0_upsamplers_0_conv"},
      {"lora_unet_middle_block_0_in_layers_2", "unet.mid_block.resnets.0.conv1"},
      {"lora_te2_text_model_encoder_layers_1_self_attn_v_proj",
       "text_encoder_2.text_model.encoder.layers.1.self_attn.v_proj"},
      {"lora_te1_text_model_encoder_layers_0_mlp_fc1",
       "text_encoder.text_model.encoder.layers.0.mlp.fc1"},
  };
  Tensors kohya, other;
  for (const auto& [k, o] : renames) {
    const bool peft = o.find('.') != std::string::npos;
    for (const auto& [suffix, peft_suffix] :
         std::vector<std::pair<std::string, std::string>>{{".lora_down.weight", ".lora_A.weight"},
                                                          {".lora_up.weight", ".lora_B.weight"},
                                                          {".alpha", ".alpha"}}) {
      kohya.emplace_back(k + suffix, get(k + suffix));
      other.emplace_back(o + (peft ? peft_suffix : suffix), get(k + suffix));
    }
  }
  test::TempDir dir;
  test::write_lora((dir / "kohya.safetensors").string(), kohya);
  test::write_lora((dir / "other.safetensors").string(), other);
  const test::Weights base = test::tiny_weights();
  test::Weights a = base.clone(), b = base.clone();
  LoraSet(a.slots(), {{"k", (dir / "kohya.safetensors").string(), 1.0}}).apply({{"k", 0.9}});
  LoraSet(b.slots(), {{"o", (dir / "other.safetensors").string(), 1.0}}).apply({{"o", 0.9}});
  EXPECT_TRUE(test::same_weights(a, b));
  EXPECT_FALSE(test::same_weights(a, base));
}

}  // namespace
}  // namespace sdxlw
