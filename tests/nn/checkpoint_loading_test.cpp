// Strict checkpoint loading: every tensor consumed and every parameter filled, other model
// families rejected with a message saying what the file is.

#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <functional>

#include "nn/checkpoint_family.h"
#include "nn_test_util.h"

namespace sdxlw::nn {
namespace {

using test::TempDir;
using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

const Tensors& tiny_tensors() {
  static const Tensors all = [] {
    const SafetensorsFile f = SafetensorsFile::open(test::tiny_checkpoint().string());
    Tensors out;
    for (const auto& info : f.tensors()) out.emplace_back(info.name, copy_tensor(f, info));
    return out;
  }();
  return all;
}

Tensors tiny_without(const std::function<bool(const std::string&)>& drop) {
  Tensors out;
  for (const auto& [name, t] : tiny_tensors()) {
    if (!drop(name)) out.emplace_back(name, t);
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// The error message of loading `tensors` written to a file, or "" when it loads.
std::string load_error(const Tensors& tensors, const std::string& file_name = "model.safetensors") {
  TempDir dir;
  const std::string path = (dir / file_name).string();
  write_safetensors(path, tensors);
  try {
    load_sdxl_checkpoint(path, LoadOptions{});
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::string contains_msg(const std::string& msg, const std::string& part) {
  return msg.find(part) != std::string::npos ? "" : "message lacks \"" + part + "\":\n" + msg;
}

TEST(CheckpointLoading, FillsEveryParameterOfTheTinyCheckpoint) {
  const SdxlModel& m = test::tiny_model();
  const auto params = m.parameters();
  EXPECT_EQ(params.size(), 961u);  // 963 tensors less position_ids and logit_scale
  for (const auto& slot : params) {
    ASSERT_TRUE(slot.tensor->defined()) << slot.name;
    EXPECT_EQ(slot.tensor->sizes(), c10::IntArrayRef(slot.shape)) << slot.name;
    EXPECT_EQ(slot.tensor->scalar_type(), at::kFloat) << slot.name;
  }
}

TEST(CheckpointLoading, OneMessageListsMissingUnexpectedAndMisshapedTensors) {
  const std::string removed = "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight";
  const std::string reshaped = "first_stage_model.decoder.mid.block_1.conv1.bias";
  Tensors t = tiny_without([&](const std::string& n) { return n == removed; });
  for (auto& [name, tensor] : t) {
    if (name == reshaped) tensor = at::zeros({7}, at::kHalf);
  }
  t.emplace_back("model.diffusion_model.extra_block.weight", at::zeros({3, 3}, at::kHalf));
  t.emplace_back("something_else", at::zeros({2}, at::kHalf));
  const std::string msg = load_error(t);
  ASSERT_FALSE(msg.empty());
  EXPECT_EQ(contains_msg(msg, "1 missing tensor:\n    " + removed + " [128, 128]"), "");
  EXPECT_EQ(contains_msg(msg, "2 unexpected tensors:"), "");
  EXPECT_EQ(contains_msg(msg, "model.diffusion_model.extra_block.weight [3, 3]"), "");
  EXPECT_EQ(contains_msg(msg, "something_else [2]"), "");
  EXPECT_EQ(contains_msg(msg, "1 tensor with the wrong shape:\n    " + reshaped + " is [7], expected [128]"), "");
  EXPECT_EQ(contains_msg(msg, "model.safetensors"), "");
}

TEST(CheckpointLoading, LongListsAreCappedAtTwentyPerKind) {
  const std::string msg = load_error(
      tiny_without([](const std::string& n) { return starts_with(n, "first_stage_model.decoder.up.0."); }));
  ASSERT_FALSE(msg.empty());
  EXPECT_EQ(contains_msg(msg, "missing tensors:"), "");
  EXPECT_EQ(contains_msg(msg, "... and "), "");
  const size_t listed = std::count(msg.begin(), msg.end(), '\n');
  EXPECT_LE(listed, 22u);
}

TEST(CheckpointLoading, KnownUnusedKeysAreIgnoredAndOptional) {
  Tensors t = tiny_without([](const std::string& n) {
    return n == "conditioner.embedders.0.transformer.text_model.embeddings.position_ids" ||
           n == "conditioner.embedders.1.model.logit_scale";
  });
  t.emplace_back("model_ema.decay", at::ones({}, at::kFloat));
  t.emplace_back("alphas_cumprod", at::ones({1000}, at::kFloat));
  t.emplace_back("denoiser.sigmas", at::ones({1000}, at::kFloat));
  t.emplace_back("ztsnr", at::zeros({0}, at::kFloat));
  EXPECT_EQ(load_error(t), "");
}

TEST(CheckpointLoading, MappedViewsAreCopyOnWrite) {
  c10::InferenceMode guard;
  LoadOptions o;
  o.text_dtype = o.unet_dtype = o.vae_dtype = at::kHalf;  // the file's dtype: views are allowed
  SdxlModel m = load_sdxl_checkpoint(test::tiny_checkpoint().string(), o);
  at::Tensor& w = *m.unet->out_conv.bias;
  const at::Tensor before = w.clone();
  w.add_(1.0);  // as a LoRA merge would
  const SafetensorsFile f = SafetensorsFile::open(test::tiny_checkpoint().string());
  const at::Tensor on_disk = copy_tensor(f, f.at("model.diffusion_model.out.2.bias"));
  EXPECT_TRUE(at::equal(on_disk, before));
  EXPECT_FALSE(at::equal(on_disk, w));
  for (const auto& slot : m.parameters()) EXPECT_EQ(slot.tensor->scalar_type(), at::kHalf) << slot.name;
}

// ---- other families ----

std::string family_error(const ShapeMap& shapes) {
  try {
    check_sdxl_base_family(shapes, "x.safetensors");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

ShapeMap tiny_shapes() { return shape_map(SafetensorsFile::open(test::tiny_checkpoint().string())); }

TEST(CheckpointFamily, Sd15CheckpointIsRejectedAsStableDiffusion1) {
  ShapeMap s;
  s["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"] = {49408, 768};
  s["model.diffusion_model.input_blocks.0.0.weight"] = {320, 4, 3, 3};
  s["first_stage_model.decoder.conv_in.weight"] = {512, 4, 3, 3};
  const std::string msg = family_error(s);
  EXPECT_EQ(contains_msg(msg, "Stable Diffusion 1.x"), "");
  EXPECT_EQ(contains_msg(msg, "SDXL base"), "");
  s.clear();
  s["cond_stage_model.model.token_embedding.weight"] = {49408, 1024};
  EXPECT_EQ(contains_msg(family_error(s), "Stable Diffusion 2.x"), "");
}

TEST(CheckpointFamily, RefinerIsRejectedAsRefiner) {
  ShapeMap s;
  s["conditioner.embedders.0.model.token_embedding.weight"] = {49408, 1280};
  s["model.diffusion_model.label_emb.0.0.weight"] = {1536, 2560};
  s["first_stage_model.decoder.conv_in.weight"] = {512, 4, 3, 3};
  EXPECT_EQ(contains_msg(family_error(s), "SDXL refiner"), "");
}

TEST(CheckpointFamily, UNetOnlyFileIsRejectedAsUNetOnly) {
  ShapeMap s;
  for (const auto& [name, shape] : tiny_shapes()) {
    if (starts_with(name, "model.diffusion_model.")) s[name] = shape;
  }
  EXPECT_EQ(contains_msg(family_error(s), "contains only a UNet"), "");
  ShapeMap bare;
  for (const auto& [name, shape] : s) bare[name.substr(std::string("model.diffusion_model.").size())] = shape;
  EXPECT_EQ(contains_msg(family_error(bare), "bare UNet"), "");
}

TEST(CheckpointFamily, MissingVaeIsNamed) {
  ShapeMap s = tiny_shapes();
  for (auto it = s.begin(); it != s.end();) it = starts_with(it->first, "first_stage_model.") ? s.erase(it) : ++it;
  const std::string msg = family_error(s);
  EXPECT_EQ(contains_msg(msg, "is missing the VAE (first_stage_model.*)"), "");
}

TEST(CheckpointFamily, LoraFileIsRejectedAsLora) {
  const std::string msg = [] {
    try {
      load_sdxl_checkpoint(test::fixture("lora_a.safetensors").string(), LoadOptions{});
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  EXPECT_EQ(contains_msg(msg, "is a LoRA"), "");
  EXPECT_EQ(contains_msg(msg, "lora_a.safetensors"), "");
}

TEST(CheckpointFamily, VPredictionEdmAndInpaintingAreRejected) {
  ShapeMap s = tiny_shapes();
  s["v_pred"] = {0};
  EXPECT_EQ(contains_msg(family_error(s), "v-prediction checkpoints are not supported"), "");
  s.erase("v_pred");
  s["edm_mean"] = {1, 4, 1, 1};
  EXPECT_EQ(contains_msg(family_error(s), "EDM"), "");
  s.erase("edm_mean");
  s["model.diffusion_model.input_blocks.0.0.weight"] = {64, 9, 3, 3};
  EXPECT_EQ(contains_msg(family_error(s), "inpainting"), "");
  s["model.diffusion_model.input_blocks.0.0.weight"] = {64, 4, 3, 3};
  EXPECT_EQ(family_error(s), "");
}

TEST(CheckpointFamily, NonCheckpointFilesAreNamed) {
  ShapeMap vae;
  vae["encoder.conv_in.weight"] = {128, 3, 3, 3};
  vae["decoder.conv_in.weight"] = {512, 4, 3, 3};
  EXPECT_EQ(contains_msg(family_error(vae), "standalone VAE"), "");
  ShapeMap diffusers;
  diffusers["down_blocks.0.resnets.0.conv1.weight"] = {320, 320, 3, 3};
  EXPECT_EQ(contains_msg(family_error(diffusers), "diffusers-format"), "");
  ShapeMap other;
  other["foo"] = {1};
  EXPECT_EQ(contains_msg(family_error(other), "no SDXL UNet"), "");
}

}  // namespace
}  // namespace sdxlw::nn
