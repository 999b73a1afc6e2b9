// Bad LoRAs and bad requests: clear errors, and the weights stay as they were.

#include "core/errors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lora/lora_set.h"
#include "lora_test_util.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

using lora::LoraSet;
using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

// Runs `fn`, expecting an exception of type E whose message contains every one of `parts`.
template <class E, class F>
void expect_error(F fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no exception";
  } catch (const E& e) {
    const std::string what = e.what();
    for (const auto& p : parts)
      EXPECT_NE(what.find(p), std::string::npos) << "\"" << p << "\" not in: " << what;
  }
}

at::Tensor half(std::vector<int64_t> shape, double v = 0.1) {
  return at::full(shape, v, at::kHalf);
}

Tensors lora_module(const std::string& name, std::vector<int64_t> down, std::vector<int64_t> up) {
  return {{name + ".lora_down.weight", half(down)},
          {name + ".lora_up.weight", half(up)},
          {name + ".alpha", at::full({}, 1.0, at::kHalf)}};
}

class LoraErrors : public ::testing::Test {
 protected:
  LoraErrors() : base_(test::tiny_weights()), w_(base_.clone()) {}

  std::string write(const std::string& name, const Tensors& tensors,
                    const std::map<std::string, std::string>& metadata = {}) {
    const std::string path = (dir_ / (name + ".safetensors")).string();
    test::write_lora(path, tensors, metadata);
    return path;
  }

  test::TempDir dir_;
  test::Weights base_;
  test::Weights w_;
};

TEST_F(LoraErrors, UnknownNameIsAnInvalidRequestListingTheKnownNames) {
  LoraSet set(w_.slots(), {{"lora_a", test::fixture_lora_path(), 1.0},
                           {"detail", test::fixture_lora_path(), 1.0}});
  expect_error<InvalidRequest>(
      [&] {
        set.apply({{"lora_a", 1.0}, {"nope", 1.0}});
      },
      {"\"nope\" is not in models.json", "known: \"lora_a\", \"detail\""});
  EXPECT_TRUE(test::same_weights(w_, base_));
  expect_error<InvalidRequest>(
      [&] {
        set.apply({{"lora_a", 1.0}, {"lora_a", 0.5}});
      },
      {"\"lora_a\" is listed twice"});
  expect_error<InvalidRequest>(
      [&] {
        set.apply({{"lora_a", std::nan("")}});
      },
      {"not a finite number"});
  EXPECT_TRUE(test::same_weights(w_, base_));
}

TEST_F(LoraErrors, FileMatchingNoWeightIsRejectedByName) {
  const std::string path =
      write("none", lora_module("lora_unet_nonexistent_layer", {4, 64}, {64, 4}));
  LoraSet set(w_.slots(), {{"stray", path, 1.0}});
  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"stray", 1.0}});
      },
      {"LoRA \"stray\"", path, "none of its 3 tensors matches",
       "lora_unet_nonexistent_layer.lora_down.weight"});
  EXPECT_TRUE(test::same_weights(w_, base_));
}

TEST_F(LoraErrors, Sd15LoraIsRejectedAsAnotherArchitecture) {
  Tensors t =
      lora_module("lora_te_text_model_encoder_layers_0_self_attn_q_proj", {4, 768}, {768, 4});
  for (auto& x : lora_module("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
                             {4, 768}, {320, 4}))
    t.push_back(x);
  const std::string path = write("sd15", t, {{"ss_base_model_version", "sd_v1"}});
  LoraSet set(w_.slots(), {{"sd15", path, 1.0}});
  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"sd15", 1.0}});
      },
      {"LoRA \"sd15\"", "targets another architecture", "SD1.x"});
  EXPECT_TRUE(test::same_weights(w_, base_));
}

TEST_F(LoraErrors, UnetOnlyLoraWithSd15CrossAttentionWidthIsRejectedNamingTheModule) {
  // SD1.x cross-attention reads 768-wide CLIP states; this model's reads 128.
  const std::string module = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k";
  const std::string path = write("sd15_unet", lora_module(module, {4, 768}, {128, 4}));
  LoraSet set(w_.slots(), {{"sd15_unet", path, 1.0}});
  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"sd15_unet", 1.0}});
      },
      {"LoRA \"sd15_unet\"", module, "[128, 768]",
       "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight", "[128, 128]",
       "another architecture", "768-wide text states, as SD1.x"});
}

TEST_F(LoraErrors, CorruptFileFailsTheRequestAndLeavesTheWeightsServing) {
  // A truncated copy of lora_a, and a file of garbage.
  const std::string truncated = (dir_ / "truncated.safetensors").string();
  std::filesystem::copy_file(test::fixture_lora_path(), truncated);
  std::filesystem::resize_file(truncated, std::filesystem::file_size(truncated) / 2);
  const std::string garbage = (dir_ / "garbage.safetensors").string();
  std::ofstream(garbage) << "this is not a safetensors file at all, just some text";
  LoraSet set(w_.slots(), {{"lora_a", test::fixture_lora_path(), 1.0},
                           {"truncated", truncated, 1.0},
                           {"garbage", garbage, 1.0},
                           {"missing", (dir_ / "missing.safetensors").string(), 1.0}});
  set.apply({{"lora_a", 0.8}});
  const test::Weights with_a = w_.clone();

  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"lora_a", 0.8}, {"truncated", 1.0}});
      },
      {"LoRA \"truncated\"", truncated, "truncated"});
  EXPECT_TRUE(test::same_weights(w_, with_a));
  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"garbage", 1.0}});
      },
      {"LoRA \"garbage\"", garbage});
  EXPECT_TRUE(test::same_weights(w_, with_a));
  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"missing", 1.0}});
      },
      {"LoRA \"missing\"", "missing.safetensors"});
  EXPECT_TRUE(test::same_weights(w_, with_a));
  ASSERT_EQ(set.applied().size(), 1u);
  EXPECT_EQ(set.applied()[0].name, "lora_a");

  // Still serving: the same set is a no-op, and switching works.
  set.apply({{"lora_a", 0.8}});
  EXPECT_EQ(set.last_stats().weights_changed, 0);
  set.apply(std::vector<LoraChoice>{});
  EXPECT_TRUE(test::same_weights(w_, base_));
}

TEST_F(LoraErrors, PartiallyMatchingFileMergesTheRestAndCountsUnmatchedKeys) {
  Tensors t = test::read_all(test::fixture_lora_path());
  for (auto& x : lora_module("lora_unet_nonexistent_a", {4, 64}, {64, 4})) t.push_back(x);
  for (auto& x : lora_module("lora_unet_input_blocks_99_1_proj_in", {4, 64}, {64, 4}))
    t.push_back(x);
  t.emplace_back("some_stray_tensor", half({3}));
  const std::string path = write("partial", t);
  LoraSet set(w_.slots(), {{"partial", path, 1.0}});
  const auto applied = set.apply({{"partial", 0.8}});
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].unmatched_keys, 7);

  test::Weights reference = base_.clone();
  LoraSet(reference.slots(), {{"lora_a", test::fixture_lora_path(), 1.0}}).apply({{"lora_a", 0.8}});
  EXPECT_TRUE(test::same_weights(w_, reference));
}

TEST_F(LoraErrors, ShapeMismatchNamesTheModuleAndTheWeight) {
  Tensors t = test::read_all(test::fixture_lora_path());
  const std::string module = "lora_unet_input_blocks_4_1_proj_in";
  for (auto& [name, x] : t)
    if (name == module + ".lora_down.weight") x = half({4, 32});
  const std::string path = write("misfit", t);
  LoraSet set(w_.slots(), {{"misfit", path, 1.0}});
  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"misfit", 1.0}});
      },
      {"LoRA \"misfit\"", module, "[128, 32]",
       "model.diffusion_model.input_blocks.4.1.proj_in.weight", "[128, 128]"});
  EXPECT_TRUE(test::same_weights(w_, base_));
}

TEST_F(LoraErrors, InconsistentModuleNamesTheTensor) {
  const std::string module = "lora_unet_input_blocks_4_1_proj_in";
  const std::string path = write("rank", lora_module(module, {4, 128}, {128, 3}));
  LoraSet set(w_.slots(), {{"rank", path, 1.0}});
  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"rank", 1.0}});
      },
      {"LoRA \"rank\"", module + ".lora_up.weight", "[128, 3]", "do not fit together"});
  const std::string half_module = write("half", {{module + ".lora_down.weight", half({4, 128})}});
  LoraSet set2(w_.slots(), {{"half", half_module, 1.0}});
  expect_error<std::runtime_error>(
      [&] {
        set2.apply({{"half", 1.0}});
      },
      {"LoRA \"half\"", module, "no lora_up"});
}

TEST_F(LoraErrors, DoraAndUnsupportedAdapterKindsAreRejected) {
  const std::string module = "lora_unet_input_blocks_4_1_proj_in";
  Tensors dora = lora_module(module, {4, 128}, {128, 4});
  dora.emplace_back(module + ".dora_scale", half({1, 128}));
  const std::string dora_path = write("dora", dora);
  const std::string oft_path = write("oft", {{module + ".oft_blocks", half({4, 32, 32})},
                                             {module + ".alpha", at::full({}, 1.0, at::kHalf)}});
  LoraSet set(w_.slots(), {{"dora", dora_path, 1.0}, {"oft", oft_path, 1.0}});
  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"dora", 1.0}});
      },
      {"LoRA \"dora\"", "DoRA", module + ".dora_scale", "not supported"});
  expect_error<std::runtime_error>(
      [&] {
        set.apply({{"oft", 1.0}});
      },
      {"LoRA \"oft\"", module + ".oft_blocks", "does not support"});
  EXPECT_TRUE(test::same_weights(w_, base_));
}

}  // namespace
}  // namespace sdxlw
