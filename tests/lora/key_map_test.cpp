// The LoRA name → weight map, built from the model's own parameter names.

#include "lora/key_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "lora/adapter.h"
#include "lora_test_util.h"
#include "nn/shape_map.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

using lora::KeyMap;
using lora::Target;

// The full-size SDXL base key list (names and shapes), with no tensors behind the slots.
std::vector<nn::ParamSlot> full_size_slots() {
  std::vector<nn::ParamSlot> slots;
  for (const auto& [name, shape] :
       nn::read_key_list(test::fixture("sdxl_base_keys_with_shapes.txt").string()))
    slots.push_back({name, shape, nullptr});
  return slots;
}

TEST(LoraKeyMap, EveryModuleOfTheFixtureLoraMapsToExactlyOneWeight) {
  test::Weights w = test::tiny_weights();
  const auto slots = w.slots();
  const KeyMap map(slots);
  const lora::AdapterFile file = lora::parse_adapter_file(test::fixture_lora_path());

  EXPECT_EQ(file.file.tensors().size(), 882u);
  ASSERT_EQ(file.modules.size(), 294u);
  EXPECT_TRUE(file.other_keys.empty());
  std::set<const Target*> targets;
  size_t keys = 0;
  for (const auto& m : file.modules) {
    keys += m.keys.size();
    EXPECT_EQ(m.kind, lora::AdapterKind::LoRA) << m.name;
    EXPECT_TRUE(m.alpha.has_value()) << m.name;
    const Target* t = map.find(m.name);
    ASSERT_NE(t, nullptr) << m.name;
    EXPECT_TRUE(targets.insert(t).second) << m.name << " shares its weight with another module";
    EXPECT_TRUE(lora::delta_fits(lora::delta_shape(file, m), t->shape)) << m.name;
  }
  EXPECT_EQ(keys, 882u);
}

TEST(LoraKeyMap, BigGQkvLandInRowSlicesOfTheFusedInProjection) {
  test::Weights w = test::tiny_weights();
  const KeyMap map(w.slots());
  const std::string in_proj =
      "conditioner.embedders.1.model.transformer.resblocks.2.attn.in_proj_weight";
  const char* names[] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    const Target* t = map.find(std::string("lora_te2_text_model_encoder_layers_2_self_attn_") +
                               names[i] + "_proj");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(w.slots()[t->slot].name, in_proj);
    EXPECT_EQ(t->row_begin, 64 * i);
    EXPECT_EQ(t->rows, 64);
    EXPECT_EQ(t->shape, (std::vector<int64_t>{64, 64}));
  }
  const std::pair<const char*, const char*> others[] = {
      {"lora_te2_text_model_encoder_layers_0_self_attn_out_proj",
       "conditioner.embedders.1.model.transformer.resblocks.0.attn.out_proj.weight"},
      {"lora_te2_text_model_encoder_layers_1_mlp_fc1",
       "conditioner.embedders.1.model.transformer.resblocks.1.mlp.c_fc.weight"},
      {"lora_te2_text_model_encoder_layers_1_mlp_fc2",
       "conditioner.embedders.1.model.transformer.resblocks.1.mlp.c_proj.weight"},
      {"lora_te1_text_model_encoder_layers_2_self_attn_v_proj",
       "conditioner.embedders.0.transformer.text_model.encoder.layers.2.self_attn.v_proj.weight"},
  };
  for (const auto& [kohya, weight] : others) {
    const Target* t = map.find(kohya);
    ASSERT_NE(t, nullptr) << kohya;
    EXPECT_TRUE(t->whole());
    EXPECT_EQ(w.slots()[t->slot].name, weight);
  }
  // Embeddings, norms, the projection and the VAE take no LoRA.
  EXPECT_EQ(map.find("lora_te2_text_model_embeddings_token_embedding"), nullptr);
  EXPECT_EQ(map.find("lora_te1_text_model_final_layer_norm"), nullptr);
  EXPECT_EQ(map.find("lora_unet_input_blocks_1_0_in_layers_0"), nullptr);  // GroupNorm
}

// The diffusers ↔ sgm UNet block table (sdxl_facts.md §2), for the fixture's 3-level UNet.
TEST(LoraKeyMap, DiffusersAndPeftNamesReachTheSameWeightsAsKohyaNames) {
  test::Weights w = test::tiny_weights();
  const KeyMap map(w.slots());
  const std::pair<const char*, const char*> pairs[] = {
      {"input_blocks.1.0.in_layers.2", "down_blocks.0.resnets.0.conv1"},
      {"input_blocks.2.0.emb_layers.1", "down_blocks.0.resnets.1.time_emb_proj"},
      {"input_blocks.3.0.op", "down_blocks.0.downsamplers.0.conv"},
      {"input_blocks.4.0.skip_connection", "down_blocks.1.resnets.0.conv_shortcut"},
      {"input_blocks.4.1.transformer_blocks.0.attn1.to_q",
       "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"},
      {"input_blocks.6.0.op", "down_blocks.1.downsamplers.0.conv"},
      {"input_blocks.8.1.proj_in", "down_blocks.2.attentions.1.proj_in"},
      {"middle_block.0.out_layers.3", "mid_block.resnets.0.conv2"},
      {"middle_block.1.transformer_blocks.1.ff.net.0.proj",
       "mid_block.attentions.0.transformer_blocks.1.ff.net.0.proj"},
      {"middle_block.2.emb_layers.1", "mid_block.resnets.1.time_emb_proj"},
      {"output_blocks.0.0.skip_connection", "up_blocks.0.resnets.0.conv_shortcut"},
      {"output_blocks.2.1.transformer_blocks.1.attn2.to_out.0",
       "up_blocks.0.attentions.2.transformer_blocks.1.attn2.to_out.0"},
      {"output_blocks.2.2.conv", "up_blocks.0.upsamplers.0.conv"},
      {"output_blocks.4.1.proj_out", "up_blocks.1.attentions.1.proj_out"},
      {"output_blocks.5.2.conv", "up_blocks.1.upsamplers.0.conv"},
      {"output_blocks.8.0.out_layers.3", "up_blocks.2.resnets.2.conv2"},
      {"time_embed.0", "time_embedding.linear_1"},
      {"time_embed.2", "time_embedding.linear_2"},
      {"label_emb.0.0", "add_embedding.linear_1"},
      {"label_emb.0.2", "add_embedding.linear_2"},
      {"input_blocks.0.0", "conv_in"},
      {"out.2", "conv_out"},
  };
  auto underscored = [](std::string s) {
    std::replace(s.begin(), s.end(), '.', '_');
    return s;
  };
  for (const auto& [ldm, diffusers] : pairs) {
    const Target* kohya = map.find("lora_unet_" + underscored(ldm));
    ASSERT_NE(kohya, nullptr) << ldm;
    EXPECT_EQ(w.slots()[kohya->slot].name, std::string("model.diffusion_model.") + ldm + ".weight");
    EXPECT_EQ(map.find("lora_unet_" + underscored(diffusers)), kohya) << diffusers;
    EXPECT_EQ(map.find(std::string("unet.") + diffusers), kohya) << diffusers;
  }
  EXPECT_EQ(map.find("text_encoder.text_model.encoder.layers.1.mlp.fc2"),
            map.find("lora_te1_text_model_encoder_layers_1_mlp_fc2"));
  EXPECT_EQ(map.find("text_encoder_2.text_model.encoder.layers.0.self_attn.k_proj"),
            map.find("lora_te2_text_model_encoder_layers_0_self_attn_k_proj"));
  EXPECT_NE(map.find("text_encoder_2.text_model.encoder.layers.0.self_attn.k_proj"), nullptr);
}

TEST(LoraKeyMap, CoversEveryLinearAndConvWeightOfFullSizeSdxl) {
  const auto slots = full_size_slots();
  ASSERT_EQ(slots.size(), 2515u);
  const KeyMap map(slots);
  size_t unet = 0, te1 = 0, te2 = 0;
  for (const auto& s : slots) {
    const bool weight = s.name.size() > 7 && s.name.compare(s.name.size() - 7, 7, ".weight") == 0;
    if (s.name.rfind("model.diffusion_model.", 0) == 0 && weight &&
        (s.shape.size() == 2 || s.shape.size() == 4))
      ++unet;
    if (s.name.rfind("conditioner.embedders.0.transformer.text_model.encoder.layers.", 0) == 0 &&
        weight && s.shape.size() == 2)
      ++te1;
    if (s.name.rfind("conditioner.embedders.1.model.transformer.resblocks.", 0) == 0 &&
        (s.name.find("in_proj_weight") != std::string::npos || (weight && s.shape.size() == 2)))
      te2 += s.name.find("in_proj_weight") != std::string::npos ? 3 : 1;
  }
  EXPECT_EQ(te1, 12u * 6);
  EXPECT_EQ(te2, 32u * 6);
  EXPECT_EQ(map.targets().size(), unet + te1 + te2);
  // Every UNet weight also has its diffusers names (2 more) and every text weight its PEFT name.
  EXPECT_EQ(map.alias_count(), 3 * unet + 2 * (te1 + te2));

  const Target* t = map.find("unet.up_blocks.0.attentions.2.transformer_blocks.9.attn2.to_k");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(slots[t->slot].name,
            "model.diffusion_model.output_blocks.2.1.transformer_blocks.9.attn2.to_k.weight");
  EXPECT_EQ(t->shape, (std::vector<int64_t>{1280, 2048}));
  t = map.find("lora_unet_down_blocks_2_attentions_1_transformer_blocks_9_ff_net_2");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(slots[t->slot].name,
            "model.diffusion_model.input_blocks.8.1.transformer_blocks.9.ff.net.2.weight");
  t = map.find("lora_te2_text_model_encoder_layers_31_self_attn_v_proj");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->row_begin, 2560);
  EXPECT_EQ(t->rows, 1280);
}

}  // namespace
}  // namespace sdxlw
