#include "engine/flops.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace sdxlw::engine {

OpCount& OpCount::operator+=(const OpCount& o) {
  conv_macs += o.conv_macs;
  linear_macs += o.linear_macs;
  attention_macs += o.attention_macs;
  return *this;
}

namespace {

using D = double;

// A square k×k convolution producing `out_pixels` output positions.
D conv(int64_t in, int64_t out, int64_t k, D out_pixels) { return D(in) * D(out) * D(k * k) * out_pixels; }
D linear(int64_t in, int64_t out, D rows) { return D(in) * D(out) * rows; }

// q·kᵀ and p·v for n queries over m keys at total width c (all heads together).
D attention(D n, D m, int64_t c) { return 2.0 * n * m * D(c); }

void res_block(OpCount& ops, int64_t in, int64_t out, int64_t emb_dim, D pixels) {
  ops.conv_macs += conv(in, out, 3, pixels) + conv(out, out, 3, pixels);
  if (in != out) ops.conv_macs += conv(in, out, 1, pixels);
  ops.linear_macs += linear(emb_dim, out, 1);
}

void spatial_transformer(OpCount& ops, int64_t c, int64_t depth, int64_t context_dim, D tokens, D context_tokens) {
  ops.linear_macs += 2 * linear(c, c, tokens);  // proj_in, proj_out
  for (int64_t i = 0; i < depth; ++i) {
    ops.linear_macs += 4 * linear(c, c, tokens);  // attn1 q, k, v, out
    ops.attention_macs += attention(tokens, tokens, c);
    ops.linear_macs += 2 * linear(c, c, tokens) + 2 * linear(context_dim, c, context_tokens);  // attn2
    ops.attention_macs += attention(tokens, context_tokens, c);
    ops.linear_macs += linear(c, 8 * c, tokens) + linear(4 * c, c, tokens);  // GEGLU feed-forward
  }
}

void require_positive(const char* what, int64_t value) {
  if (value < 1) {
    throw std::invalid_argument(std::string("flops: ") + what + " must be positive, got " + std::to_string(value));
  }
}

void vae_res_block(OpCount& ops, int64_t in, int64_t out, D pixels) {
  ops.conv_macs += conv(in, out, 3, pixels) + conv(out, out, 3, pixels);
  if (in != out) ops.conv_macs += conv(in, out, 1, pixels);
}

void vae_mid(OpCount& ops, int64_t c, D pixels) {
  vae_res_block(ops, c, c, pixels);
  ops.conv_macs += 4 * conv(c, c, 1, pixels);  // q, k, v, proj_out (1×1)
  ops.attention_macs += attention(pixels, pixels, c);
  vae_res_block(ops, c, c, pixels);
}

}  // namespace

OpCount unet_forward_ops(const nn::UNetConfig& c, int64_t latent_h, int64_t latent_w, int64_t context_tokens,
                         int64_t batch) {
  require_positive("latent height", latent_h);
  require_positive("latent width", latent_w);
  require_positive("context tokens", context_tokens);
  require_positive("batch", batch);
  if (c.levels() == 0) throw std::invalid_argument("flops: the UNet configuration has no levels");
  const int64_t factor = int64_t{1} << (c.levels() - 1);
  if (latent_h % factor || latent_w % factor) {
    throw std::invalid_argument("flops: latent size " + std::to_string(latent_h) + "×" + std::to_string(latent_w) +
                                " is not a multiple of the UNet's factor " + std::to_string(factor));
  }
  auto pixels = [&](size_t level) { return D(latent_h >> level) * D(latent_w >> level); };
  const D ctx = D(context_tokens);
  OpCount ops;
  ops.linear_macs += linear(c.model_channels, c.time_embed_dim, 1) + linear(c.time_embed_dim, c.time_embed_dim, 1) +
                     linear(c.adm_in, c.time_embed_dim, 1) + linear(c.time_embed_dim, c.time_embed_dim, 1);

  ops.conv_macs += conv(c.in_channels, c.model_channels, 3, pixels(0));
  std::vector<int64_t> skips{c.model_channels};
  int64_t ch = c.model_channels;
  for (size_t level = 0; level < c.levels(); ++level) {
    for (int64_t i = 0; i < c.num_res_blocks; ++i) {
      res_block(ops, ch, c.channels(level), c.time_embed_dim, pixels(level));
      ch = c.channels(level);
      if (c.depth[level] > 0) spatial_transformer(ops, ch, c.depth[level], c.context_dim, pixels(level), ctx);
      skips.push_back(ch);
    }
    if (level + 1 < c.levels()) {
      ops.conv_macs += conv(ch, ch, 3, pixels(level + 1));  // stride 2
      skips.push_back(ch);
    }
  }
  const size_t last = c.levels() - 1;
  res_block(ops, ch, ch, c.time_embed_dim, pixels(last));
  spatial_transformer(ops, ch, c.middle_depth, c.context_dim, pixels(last), ctx);
  res_block(ops, ch, ch, c.time_embed_dim, pixels(last));
  for (size_t level = c.levels(); level-- > 0;) {
    for (int64_t i = 0; i <= c.num_res_blocks; ++i) {
      res_block(ops, ch + skips.back(), c.channels(level), c.time_embed_dim, pixels(level));
      skips.pop_back();
      ch = c.channels(level);
      if (c.depth[level] > 0) spatial_transformer(ops, ch, c.depth[level], c.context_dim, pixels(level), ctx);
      if (level > 0 && i == c.num_res_blocks) ops.conv_macs += conv(ch, ch, 3, pixels(level - 1));
    }
  }
  ops.conv_macs += conv(c.model_channels, c.out_channels, 3, pixels(0));

  ops.conv_macs *= D(batch);
  ops.linear_macs *= D(batch);
  ops.attention_macs *= D(batch);
  return ops;
}

OpCount vae_decode_ops(const nn::VaeConfig& c, int64_t latent_h, int64_t latent_w) {
  require_positive("latent height", latent_h);
  require_positive("latent width", latent_w);
  if (c.ch_mult.empty()) throw std::invalid_argument("flops: the VAE configuration has no levels");
  const size_t n = c.ch_mult.size();
  // Level i runs at latent size × 2^(n−1−i).
  auto pixels = [&](size_t level) {
    const D scale = D(int64_t{1} << (n - 1 - level));
    return D(latent_h) * scale * D(latent_w) * scale;
  };
  OpCount ops;
  ops.conv_macs += conv(c.embed_dim, c.z_channels, 1, pixels(n - 1));  // post_quant_conv
  int64_t ch = c.ch * c.ch_mult.back();
  ops.conv_macs += conv(c.z_channels, ch, 3, pixels(n - 1));
  vae_mid(ops, ch, pixels(n - 1));
  for (size_t i = n; i-- > 0;) {
    const int64_t out = c.ch * c.ch_mult[i];
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) {
      vae_res_block(ops, ch, out, pixels(i));
      ch = out;
    }
    if (i > 0) ops.conv_macs += conv(out, out, 3, pixels(i - 1));  // after nearest ×2
  }
  ops.conv_macs += conv(ch, c.out_channels, 3, pixels(0));
  return ops;
}

namespace {

OpCount text_layers(int64_t width, int64_t mlp_dim, int64_t layers, int64_t tokens) {
  const D n = D(tokens);
  OpCount ops;
  ops.linear_macs = D(layers) * (4 * linear(width, width, n) + linear(width, mlp_dim, n) + linear(mlp_dim, width, n));
  ops.attention_macs = D(layers) * attention(n, n, width);
  return ops;
}

}  // namespace

OpCount clip_text_ops(const nn::ClipTextConfig& c, int64_t tokens) {
  require_positive("tokens", tokens);
  return text_layers(c.width, c.mlp_dim, c.layers, tokens);
}

OpCount open_clip_text_ops(const nn::OpenClipTextConfig& c, int64_t tokens) {
  require_positive("tokens", tokens);
  OpCount ops = text_layers(c.width, c.mlp_dim, c.layers, tokens);
  ops.linear_macs += linear(c.width, c.projection, 1);
  return ops;
}

}  // namespace sdxlw::engine
