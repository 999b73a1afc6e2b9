// Architecture detection from tensor shapes: the real SDXL base key list and the tiny fixture.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

#include "nn/checkpoint_family.h"
#include "nn/sdxl_config.h"
#include "nn/sdxl_model.h"
#include "nn/shape_map.h"
#include "support/paths.h"

namespace sdxlw::nn {
namespace {

ShapeMap sdxl_base_keys() { return read_key_list(test::fixture("sdxl_base_keys_with_shapes.txt").string()); }

TEST(KeyList, ParsesScalarsVectorsAndMatrices) {
  const ShapeMap m = parse_key_list("a.weight (3, 4)\n\nb.bias (7,)\nlogit_scale ()\n");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.at("a.weight"), (Shape{3, 4}));
  EXPECT_EQ(m.at("b.bias"), (Shape{7}));
  EXPECT_EQ(m.at("logit_scale"), Shape{});
  EXPECT_THROW(parse_key_list("broken line\n"), std::runtime_error);
  EXPECT_THROW(parse_key_list("x (1, a)\n"), std::runtime_error);
}

TEST(KeyList, SdxlBaseBuildsExactlyTheCheckpointNamesAndShapesWithoutAllocating) {
  const ShapeMap keys = sdxl_base_keys();
  ASSERT_EQ(keys.size(), 2515u);
  SdxlModel model = build_sdxl_model(keys);

  ShapeMap built;
  for (const auto& slot : model.parameters()) {
    EXPECT_FALSE(slot.tensor->defined()) << slot.name << " was allocated";
    EXPECT_TRUE(built.emplace(slot.name, slot.shape).second) << slot.name << " declared twice";
  }
  ShapeMap used;
  for (const auto& [name, shape] : keys) {
    if (!is_known_unused_key(name)) used.emplace(name, shape);
  }
  EXPECT_EQ(keys.size() - used.size(), 2u);  // position_ids, logit_scale
  for (const auto& [name, shape] : used) {
    auto it = built.find(name);
    if (it == built.end()) {
      ADD_FAILURE() << "checkpoint tensor not in the model: " << name;
    } else {
      EXPECT_EQ(it->second, shape) << name;
    }
  }
  for (const auto& [name, shape] : built) EXPECT_TRUE(used.count(name)) << "model tensor not in the checkpoint: " << name;
  EXPECT_EQ(built.size(), used.size());
  EXPECT_NO_THROW(check_checkpoint_tensors(model, keys, "sdxl_base_keys_with_shapes.txt"));
}

TEST(KeyList, SdxlBaseConfigIsDetectedFromShapes) {
  const SdxlConfig c = SdxlConfig::detect(sdxl_base_keys());
  EXPECT_EQ(c.unet.model_channels, 320);
  EXPECT_EQ(c.unet.channel_mult, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(c.unet.num_res_blocks, 2);
  EXPECT_EQ(c.unet.depth, (std::vector<int64_t>{0, 2, 10}));
  EXPECT_EQ(c.unet.middle_depth, 10);
  EXPECT_EQ(c.unet.context_dim, 2048);
  EXPECT_EQ(c.unet.adm_in, 2816);
  EXPECT_EQ(c.unet.time_embed_dim, 1280);
  EXPECT_EQ(c.unet.in_channels, 4);
  EXPECT_EQ(c.unet.out_channels, 4);
  EXPECT_EQ(c.unet.attention_resolutions(), (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(heads_for_width(c.unet.channels(1)), 10);
  EXPECT_EQ(heads_for_width(c.unet.channels(2)), 20);
  EXPECT_EQ(c.size_embed_dim, 256);

  EXPECT_EQ(c.te1.width, 768);
  EXPECT_EQ(c.te1.heads, 12);
  EXPECT_EQ(c.te1.layers, 12);
  EXPECT_EQ(c.te1.mlp_dim, 3072);
  EXPECT_EQ(c.te1.vocab, 49408);
  EXPECT_EQ(c.te1.positions, 77);

  EXPECT_EQ(c.te2.width, 1280);
  EXPECT_EQ(c.te2.heads, 20);
  EXPECT_EQ(c.te2.layers, 32);
  EXPECT_EQ(c.te2.projection, 1280);
  EXPECT_EQ(c.te2.mlp_dim, 5120);
  EXPECT_FALSE(c.te2.projection_is_linear);

  EXPECT_EQ(c.vae.ch, 128);
  EXPECT_EQ(c.vae.ch_mult, (std::vector<int64_t>{1, 2, 4, 4}));
  EXPECT_EQ(c.vae.num_res_blocks, 2);
  EXPECT_EQ(c.vae.z_channels, 4);
  EXPECT_EQ(c.vae.embed_dim, 4);
}

TEST(KeyList, UNetDescriptionNamesEveryDetectedSize) {
  const SdxlConfig c = SdxlConfig::detect(sdxl_base_keys());
  EXPECT_EQ(c.unet.describe(),
            "model_channels=320 mult=[1,2,4] res_blocks=2 depth=[0,2,10] middle=10 context=2048 adm=2816 "
            "heads=[-,10,20] in=4 out=4");
}

TEST(KeyList, LinearTextProjectionKeyIsDetectedAsTransposed) {
  ShapeMap keys = sdxl_base_keys();
  const std::string p = std::string(kTe2Prefix) + ".";
  keys.erase(p + "text_projection");
  keys.emplace(p + "text_projection.weight", Shape{1024, 1280});
  keys.at("model.diffusion_model.label_emb.0.0.weight") = {1280, 1024 + 1536};
  const SdxlConfig c = SdxlConfig::detect(keys);
  EXPECT_TRUE(c.te2.projection_is_linear);
  EXPECT_EQ(c.te2.projection, 1024);
  SdxlModel model = build_sdxl_model(c);
  EXPECT_NO_THROW(check_checkpoint_tensors(model, keys, "modified key list"));
}

TEST(TinyConfig, DetectedConfigEqualsTheFixtureMetadata) {
  std::ifstream in(test::fixture("jobs/01_euler_64/meta.json"));
  const auto meta = nlohmann::json::parse(in).at("checkpoint").at("inferred_config");
  const SdxlConfig c = SdxlConfig::detect(shape_map(SafetensorsFile::open(test::tiny_checkpoint().string())));

  const auto& u = meta.at("unet");
  EXPECT_EQ(c.unet.model_channels, u.at("model_channels").get<int64_t>());
  EXPECT_EQ(c.unet.channel_mult, u.at("channel_mult").get<std::vector<int64_t>>());
  EXPECT_EQ(c.unet.num_res_blocks, u.at("num_res_blocks").get<int64_t>());
  EXPECT_EQ(c.unet.depth, u.at("transformer_depth").get<std::vector<int64_t>>());
  EXPECT_EQ(c.unet.attention_resolutions(), u.at("attention_resolutions").get<std::vector<int64_t>>());
  EXPECT_EQ(kHeadDim, u.at("num_head_channels").get<int64_t>());
  EXPECT_EQ(c.unet.middle_depth, 2);  // fixtures README §1
  EXPECT_EQ(c.unet.context_dim, 128);
  EXPECT_EQ(c.unet.adm_in, 1600);
  EXPECT_EQ(heads_for_width(c.unet.channels(1)), 2);
  EXPECT_EQ(heads_for_width(c.unet.channels(2)), 4);

  const auto& t1 = meta.at("te1");
  EXPECT_EQ(c.te1.width, t1.at("width").get<int64_t>());
  EXPECT_EQ(c.te1.heads, t1.at("heads").get<int64_t>());
  EXPECT_EQ(c.te1.layers, t1.at("layers").get<int64_t>());
  const auto& t2 = meta.at("te2");
  EXPECT_EQ(c.te2.width, t2.at("width").get<int64_t>());
  EXPECT_EQ(c.te2.heads, t2.at("heads").get<int64_t>());
  EXPECT_EQ(c.te2.layers, t2.at("layers").get<int64_t>());
  EXPECT_EQ(c.te2.projection, t2.at("proj").get<int64_t>());

  const auto& v = meta.at("vae");
  EXPECT_EQ(c.vae.ch, v.at("ch").get<int64_t>());
  EXPECT_EQ(c.vae.ch_mult, v.at("ch_mult").get<std::vector<int64_t>>());
  EXPECT_EQ(c.vae.num_res_blocks, v.at("num_res_blocks").get<int64_t>());
  EXPECT_EQ(c.vae.z_channels, v.at("z_channels").get<int64_t>());
  EXPECT_EQ(c.vae.embed_dim, v.at("embed_dim").get<int64_t>());
}

}  // namespace
}  // namespace sdxlw::nn
