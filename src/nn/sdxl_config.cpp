#include "nn/sdxl_config.h"

#include <algorithm>
#include <stdexcept>

namespace sdxlw::nn {

namespace {

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

[[noreturn]] void fail(const std::string& what, const std::string& msg) {
  throw std::runtime_error("cannot detect the " + what + " architecture: " + msg);
}

}  // namespace

int64_t heads_for_width(int64_t width) { return std::max<int64_t>(1, width / kHeadDim); }

// ---- CLIP-L ----

ClipTextConfig ClipTextConfig::detect(const ShapeQuery& keys, const std::string& prefix) {
  const std::string what = "CLIP-L text encoder";
  const std::string p = prefix + ".";
  ClipTextConfig c;
  c.vocab = keys.dim(p + "embeddings.token_embedding.weight", 2, 0, what);
  c.width = keys.dim(p + "embeddings.token_embedding.weight", 2, 1, what);
  c.positions = keys.dim(p + "embeddings.position_embedding.weight", 2, 0, what);
  c.layers = keys.count_indexed(p + "encoder.layers.");
  if (c.layers < 2) fail(what, "found " + std::to_string(c.layers) + " layers under " + p + "encoder.layers (at least 2 needed for the penultimate hidden state)");
  c.mlp_dim = keys.dim(p + "encoder.layers.0.mlp.fc1.weight", 2, 0, what);
  c.heads = heads_for_width(c.width);
  return c;
}

std::string ClipTextConfig::describe() const {
  return "width=" + std::to_string(width) + " heads=" + std::to_string(heads) +
         " layers=" + std::to_string(layers) + " mlp=" + std::to_string(mlp_dim) +
         " vocab=" + std::to_string(vocab) + " positions=" + std::to_string(positions) +
         " act=quick_gelu";
}

// ---- OpenCLIP bigG ----

OpenClipTextConfig OpenClipTextConfig::detect(const ShapeQuery& keys, const std::string& prefix) {
  const std::string what = "OpenCLIP bigG text encoder";
  const std::string p = prefix + ".";
  OpenClipTextConfig c;
  c.vocab = keys.dim(p + "token_embedding.weight", 2, 0, what);
  c.width = keys.dim(p + "token_embedding.weight", 2, 1, what);
  c.positions = keys.dim(p + "positional_embedding", 2, 0, what);
  c.layers = keys.count_indexed(p + "transformer.resblocks.");
  if (c.layers < 2) fail(what, "found " + std::to_string(c.layers) + " layers under " + p + "transformer.resblocks (at least 2 needed)");
  c.mlp_dim = keys.dim(p + "transformer.resblocks.0.mlp.c_fc.weight", 2, 0, what);
  c.heads = heads_for_width(c.width);
  if (keys.has(p + "text_projection")) {
    const Shape& s = keys.shape(p + "text_projection", what);
    if (s.size() != 2 || s[0] != c.width) {
      fail(what, "tensor " + p + "text_projection has shape " + shape_str(s) + ", expected [" +
                     std::to_string(c.width) + ", P]");
    }
    c.projection = s[1];
  } else if (keys.has(p + "text_projection.weight")) {
    const Shape& s = keys.shape(p + "text_projection.weight", what);
    if (s.size() != 2 || s[1] != c.width) {
      fail(what, "tensor " + p + "text_projection.weight has shape " + shape_str(s) +
                     ", expected [P, " + std::to_string(c.width) + "]");
    }
    c.projection = s[0];
    c.projection_is_linear = true;
  } else {
    fail(what, "tensor " + p + "text_projection is missing");
  }
  return c;
}

std::string OpenClipTextConfig::describe() const {
  return "width=" + std::to_string(width) + " heads=" + std::to_string(heads) +
         " layers=" + std::to_string(layers) + " mlp=" + std::to_string(mlp_dim) +
         " projection=" + std::to_string(projection) +
         (projection_is_linear ? " (text_projection.weight, x@W^T)" : " (x@P)") +
         " vocab=" + std::to_string(vocab) + " positions=" + std::to_string(positions) + " act=gelu";
}

// ---- UNet ----

UNetConfig UNetConfig::detect(const ShapeQuery& keys, const std::string& prefix) {
  const std::string what = "UNet";
  const std::string p = prefix + ".";
  UNetConfig c;
  c.model_channels = keys.dim(p + "input_blocks.0.0.weight", 4, 0, what);
  c.in_channels = keys.dim(p + "input_blocks.0.0.weight", 4, 1, what);
  c.out_channels = keys.dim(p + "out.2.weight", 4, 0, what);
  c.time_embed_dim = keys.dim(p + "time_embed.0.weight", 2, 0, what);
  const int64_t t_in = keys.dim(p + "time_embed.0.weight", 2, 1, what);
  if (t_in != c.model_channels) {
    fail(what, "time_embed.0 takes " + std::to_string(t_in) + " inputs but the model has " +
                   std::to_string(c.model_channels) + " channels");
  }
  if (!keys.has(p + "label_emb.0.0.weight")) {
    fail(what, "tensor " + p + "label_emb.0.0.weight is missing (a UNet without the SDXL size/pooled conditioning input)");
  }
  c.adm_in = keys.dim(p + "label_emb.0.0.weight", 2, 1, what);

  // Walk the input blocks: per level num_res_blocks × (ResBlock [+ SpatialTransformer]), then a
  // downsampler ("op") except after the last level.
  const int64_t n_input = keys.count_indexed(p + "input_blocks.");
  std::vector<int64_t> blocks_per_level;
  int64_t level_blocks = 0, level_ch = -1, level_depth = -1;
  auto close_level = [&](int64_t block) {
    if (level_blocks == 0) {
      fail(what, "input_blocks." + std::to_string(block) + " downsamples a level without ResBlocks");
    }
    if (level_ch % c.model_channels != 0) {
      fail(what, "level " + std::to_string(c.channel_mult.size()) + " has " + std::to_string(level_ch) +
                     " channels, not a multiple of the model's " + std::to_string(c.model_channels));
    }
    c.channel_mult.push_back(level_ch / c.model_channels);
    c.depth.push_back(level_depth);
    blocks_per_level.push_back(level_blocks);
    level_blocks = 0;
    level_ch = level_depth = -1;
  };
  for (int64_t i = 1; i < n_input; ++i) {
    const std::string b = p + "input_blocks." + std::to_string(i) + ".";
    if (keys.has_prefix(b + "0.op.")) {
      close_level(i);
      continue;
    }
    const int64_t ch = keys.dim(b + "0.in_layers.2.weight", 4, 0, what);
    const int64_t depth = keys.count_indexed(b + "1.transformer_blocks.");
    if (depth > 0) {
      const Shape& proj = keys.shape(b + "1.proj_in.weight", what);
      if (proj.size() != 2) {
        fail(what, "tensor " + b + "1.proj_in.weight has shape " + shape_str(proj) +
                       " (a convolutional proj_in as in SD 1.x/2.0, not SDXL's linear one)");
      }
    }
    if (level_blocks > 0 && (ch != level_ch || depth != level_depth)) {
      fail(what, "input_blocks." + std::to_string(i) + " (" + std::to_string(ch) + " channels, depth " +
                     std::to_string(depth) + ") differs from the earlier blocks of its level (" +
                     std::to_string(level_ch) + " channels, depth " + std::to_string(level_depth) + ")");
    }
    level_ch = ch;
    level_depth = depth;
    ++level_blocks;
  }
  if (level_blocks == 0) fail(what, "no ResBlocks after the last downsampler in " + p + "input_blocks");
  close_level(n_input);
  c.num_res_blocks = blocks_per_level[0];
  for (size_t l = 1; l < blocks_per_level.size(); ++l) {
    if (blocks_per_level[l] != c.num_res_blocks) {
      fail(what, "levels have different numbers of ResBlocks (" + list_str(blocks_per_level) + ")");
    }
  }

  if (!keys.has_prefix(p + "middle_block.")) {
    fail(what, "there is no middle_block (distilled SDXL variants such as SSD-1B or Vega are not supported)");
  }
  c.middle_depth = keys.count_indexed(p + "middle_block.1.transformer_blocks.");
  if (c.middle_depth == 0) fail(what, "middle_block.1 has no transformer blocks");

  std::string ctx_key;
  for (int64_t i = 1; i < n_input && ctx_key.empty(); ++i) {
    const std::string k = p + "input_blocks." + std::to_string(i) + ".1.transformer_blocks.0.attn2.to_k.weight";
    if (keys.has(k)) ctx_key = k;
  }
  if (ctx_key.empty()) ctx_key = p + "middle_block.1.transformer_blocks.0.attn2.to_k.weight";
  if (!keys.has(ctx_key)) fail(what, "it has no cross-attention (no attn2.to_k weights)");
  c.context_dim = keys.dim(ctx_key, 2, 1, what);
  return c;
}

std::vector<int64_t> UNetConfig::attention_resolutions() const {
  std::vector<int64_t> out;
  for (size_t l = depth.size(); l-- > 0;) {
    if (depth[l] > 0) out.push_back(int64_t{1} << l);
  }
  return out;
}

std::string UNetConfig::describe() const {
  std::string heads = "[";
  for (size_t l = 0; l < levels(); ++l) {
    heads += (l ? "," : "");
    heads += depth[l] > 0 ? std::to_string(heads_for_width(channels(l))) : "-";
  }
  heads += "]";
  return "model_channels=" + std::to_string(model_channels) + " mult=" + list_str(channel_mult) +
         " res_blocks=" + std::to_string(num_res_blocks) + " depth=" + list_str(depth) +
         " middle=" + std::to_string(middle_depth) + " context=" + std::to_string(context_dim) +
         " adm=" + std::to_string(adm_in) + " heads=" + heads + " in=" + std::to_string(in_channels) +
         " out=" + std::to_string(out_channels);
}

// ---- VAE ----

VaeConfig VaeConfig::detect(const ShapeQuery& keys, const std::string& prefix) {
  const std::string what = "VAE";
  const std::string p = prefix + ".";
  VaeConfig c;
  c.ch = keys.dim(p + "encoder.conv_in.weight", 4, 0, what);
  c.in_channels = keys.dim(p + "encoder.conv_in.weight", 4, 1, what);
  c.out_channels = keys.dim(p + "decoder.conv_out.weight", 4, 0, what);
  const int64_t levels = keys.count_indexed(p + "encoder.down.");
  if (levels == 0) fail(what, "no encoder levels under " + p + "encoder.down");
  for (int64_t l = 0; l < levels; ++l) {
    const std::string k = p + "encoder.down." + std::to_string(l) + ".block.0.conv1.weight";
    const int64_t ch = keys.dim(k, 4, 0, what);
    if (ch % c.ch != 0) {
      fail(what, "tensor " + k + " has " + std::to_string(ch) + " output channels, not a multiple of " +
                     std::to_string(c.ch));
    }
    c.ch_mult.push_back(ch / c.ch);
  }
  c.num_res_blocks = keys.count_indexed(p + "encoder.down.0.block.");
  c.z_channels = keys.dim(p + "decoder.conv_in.weight", 4, 1, what);
  const int64_t moments = keys.dim(p + "encoder.conv_out.weight", 4, 0, what);
  if (moments != 2 * c.z_channels) {
    fail(what, "encoder.conv_out has " + std::to_string(moments) + " outputs, expected 2 × z_channels = " +
                   std::to_string(2 * c.z_channels));
  }
  c.embed_dim = keys.dim(p + "post_quant_conv.weight", 4, 1, what);
  return c;
}

std::string VaeConfig::describe() const {
  return "ch=" + std::to_string(ch) + " mult=" + list_str(ch_mult) +
         " res_blocks=" + std::to_string(num_res_blocks) + " z=" + std::to_string(z_channels) +
         " embed=" + std::to_string(embed_dim) + " in=" + std::to_string(in_channels) +
         " out=" + std::to_string(out_channels);
}

// ---- All four ----

SdxlConfig SdxlConfig::detect(const ShapeMap& shapes) {
  const ShapeQuery keys(shapes);
  SdxlConfig c;
  c.te1 = ClipTextConfig::detect(keys);
  c.te2 = OpenClipTextConfig::detect(keys);
  c.unet = UNetConfig::detect(keys);
  c.vae = VaeConfig::detect(keys);
  if (c.unet.context_dim != c.te1.width + c.te2.width) {
    throw std::runtime_error("the UNet's cross-attention takes " + std::to_string(c.unet.context_dim) +
                             "-wide context but the text encoders give " + std::to_string(c.te1.width) +
                             " + " + std::to_string(c.te2.width) + " = " +
                             std::to_string(c.te1.width + c.te2.width));
  }
  const int64_t sizes = c.unet.adm_in - c.te2.projection;
  if (sizes <= 0 || sizes % 6 != 0 || (sizes / 6) % 2 != 0) {
    throw std::runtime_error("the UNet's label_emb takes " + std::to_string(c.unet.adm_in) +
                             " inputs, which is not the pooled text embedding (" +
                             std::to_string(c.te2.projection) +
                             ") plus 6 equal even-width size embeddings as in SDXL base");
  }
  c.size_embed_dim = sizes / 6;
  if (c.unet.in_channels != c.vae.embed_dim || c.unet.out_channels != c.vae.embed_dim) {
    throw std::runtime_error("the UNet maps " + std::to_string(c.unet.in_channels) + " → " +
                             std::to_string(c.unet.out_channels) + " channels but the VAE's latents have " +
                             std::to_string(c.vae.embed_dim));
  }
  return c;
}

}  // namespace sdxlw::nn
