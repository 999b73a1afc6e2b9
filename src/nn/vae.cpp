#include "nn/vae.h"

#include <stdexcept>
#include <string>

#include "nn/attention.h"
#include "nn/fast_ops.h"
#include "nn/functional.h"
#include "nn/unet_blocks.h"

namespace sdxlw::nn {

// ---- blocks ----

VaeResBlock::VaeResBlock(int64_t in, int64_t out)
    : norm1(add<GroupNorm>("norm1", 32, in, 1e-6)),
      conv1(add<Conv2d>("conv1", in, out, 3, 1, 1)),
      norm2(add<GroupNorm>("norm2", 32, out, 1e-6)),
      conv2(add<Conv2d>("conv2", out, out, 3, 1, 1)) {
  if (in != out) nin_shortcut = &add<Conv2d>("nin_shortcut", in, out, 1);
}

at::Tensor VaeResBlock::forward(const at::Tensor& x) const {
  at::Tensor h = conv1.forward(silu_inplace(norm1.forward(x)));
  h = conv2.forward(silu_inplace(norm2.forward(h)));
  return h.add_(nin_shortcut ? nin_shortcut->forward(x) : x);
}

VaeAttnBlock::VaeAttnBlock(int64_t c)
    : norm(add<GroupNorm>("norm", 32, c, 1e-6)),
      q(add<Conv2d>("q", c, c, 1)),
      k(add<Conv2d>("k", c, c, 1)),
      v(add<Conv2d>("v", c, c, 1)),
      proj_out(add<Conv2d>("proj_out", c, c, 1)) {}

at::Tensor VaeAttnBlock::forward(const at::Tensor& x) const {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // 1×1 convs over [B, C, H, W] are linears over [B, H·W, C].
  const at::Tensor t = norm.forward(x).view({b, c, h * w}).transpose(1, 2);  // [B, HW, C]
  auto lin = [&t](const Conv2d& conv) { return nn::linear(t, conv.weight.flatten(1), *conv.bias); };
  const at::Tensor o = multi_head_attention(lin(q), lin(k), lin(v), /*heads=*/1);  // [B, HW, C]
  const at::Tensor out = nn::linear(o, proj_out.weight.flatten(1), *proj_out.bias);
  return x + out.transpose(1, 2).view({b, c, h, w});
}

at::Tensor VaeMid::forward(const at::Tensor& x) const {
  return block_2->forward(attn_1->forward(block_1->forward(x)));
}

// ---- encoder ----

VaeEncoder::VaeEncoder(const VaeConfig& c)
    : conv_in(add<Conv2d>("conv_in", c.in_channels, c.ch, 3, 1, 1)),
      down(add_down(c)),
      mid(add_mid(c.ch * c.ch_mult.back())),
      norm_out(add<GroupNorm>("norm_out", 32, c.ch * c.ch_mult.back(), 1e-6)),
      conv_out(add<Conv2d>("conv_out", c.ch * c.ch_mult.back(), 2 * c.z_channels, 3, 1, 1)) {}

std::vector<VaeLevel> VaeEncoder::add_down(const VaeConfig& c) {
  std::vector<VaeLevel> levels(c.ch_mult.size());
  int64_t ch = c.ch;
  for (size_t i = 0; i < levels.size(); ++i) {
    const std::string p = "down." + std::to_string(i) + ".";
    const int64_t out = c.ch * c.ch_mult[i];
    for (int64_t j = 0; j < c.num_res_blocks; ++j) {
      levels[i].blocks.push_back(&add<VaeResBlock>(p + "block." + std::to_string(j), ch, out));
      ch = out;
    }
    if (i + 1 < levels.size()) levels[i].resample = &add<Conv2d>(p + "downsample.conv", ch, ch, 3, 2, 0);
  }
  return levels;
}

VaeMid VaeEncoder::add_mid(int64_t ch) {
  return {&add<VaeResBlock>("mid.block_1", ch, ch), &add<VaeAttnBlock>("mid.attn_1", ch),
          &add<VaeResBlock>("mid.block_2", ch, ch)};
}

at::Tensor VaeEncoder::forward(const at::Tensor& x) const {
  at::Tensor h = conv_in.forward(x);
  for (const auto& level : down) {
    for (const auto* block : level.blocks) h = block->forward(h);
    if (level.resample) h = level.resample->forward(at::constant_pad_nd(h, {0, 1, 0, 1}, 0));
  }
  h = mid.forward(h);
  return conv_out.forward(silu_inplace(norm_out.forward(h)));
}

// ---- decoder ----

VaeDecoder::VaeDecoder(const VaeConfig& c)
    : conv_in(add<Conv2d>("conv_in", c.z_channels, c.ch * c.ch_mult.back(), 3, 1, 1)),
      mid(add_mid(c.ch * c.ch_mult.back())),
      up(add_up(c)),
      norm_out(add<GroupNorm>("norm_out", 32, c.ch * c.ch_mult.front(), 1e-6)),
      conv_out(add<Conv2d>("conv_out", c.ch * c.ch_mult.front(), c.out_channels, 3, 1, 1)) {}

VaeMid VaeDecoder::add_mid(int64_t ch) {
  return {&add<VaeResBlock>("mid.block_1", ch, ch), &add<VaeAttnBlock>("mid.attn_1", ch),
          &add<VaeResBlock>("mid.block_2", ch, ch)};
}

std::vector<VaeLevel> VaeDecoder::add_up(const VaeConfig& c) {
  const size_t n = c.ch_mult.size();
  std::vector<VaeLevel> levels(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string p = "up." + std::to_string(i) + ".";
    const int64_t out = c.ch * c.ch_mult[i];
    int64_t ch = c.ch * c.ch_mult[i + 1 < n ? i + 1 : n - 1];  // what the level below hands up
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) {
      levels[i].blocks.push_back(&add<VaeResBlock>(p + "block." + std::to_string(j), ch, out));
      ch = out;
    }
    if (i > 0) levels[i].resample = &add<Conv2d>(p + "upsample.conv", out, out, 3, 1, 1);
  }
  return levels;
}

at::Tensor VaeDecoder::forward(const at::Tensor& z) const {
  at::Tensor h = mid.forward(conv_in.forward(z));
  for (size_t i = up.size(); i-- > 0;) {
    for (const auto* block : up[i].blocks) h = block->forward(h);
    if (up[i].resample) h = up[i].resample->forward(upsample_nearest_2x(h));
  }
  return conv_out.forward(silu_inplace(norm_out.forward(h)));
}

// ---- model ----

VaeModel::VaeModel(const VaeConfig& c)
    : encoder(add<VaeEncoder>("encoder", c)),
      decoder(add<VaeDecoder>("decoder", c)),
      quant_conv(add<Conv2d>("quant_conv", 2 * c.z_channels, 2 * c.embed_dim, 1)),
      post_quant_conv(add<Conv2d>("post_quant_conv", c.embed_dim, c.z_channels, 1)),
      config_(c) {}

at::Tensor VaeModel::decode(const at::Tensor& latents) const {
  if (latents.dim() != 4 || latents.size(1) != config_.embed_dim) {
    throw std::invalid_argument("vae: latents must be [B, " + std::to_string(config_.embed_dim) +
                                ", h, w], got " + shape_str(latents.sizes().vec()));
  }
  const at::Tensor z = latents.to(post_quant_conv.weight.options()) / config_.scaling_factor;
  std::vector<at::Tensor> images;
  for (int64_t i = 0; i < z.size(0); ++i) {
    images.push_back(decoder.forward(post_quant_conv.forward(z.narrow(0, i, 1))).to(latents.scalar_type()));
  }
  return images.size() == 1 ? images[0] : at::cat(images);
}

VaeMoments VaeModel::encode(const at::Tensor& image) const {
  const int64_t factor = int64_t{1} << (config_.ch_mult.size() - 1);
  if (image.dim() != 4 || image.size(1) != config_.in_channels || image.size(2) % factor ||
      image.size(3) % factor) {
    throw std::invalid_argument("vae: images must be [B, " + std::to_string(config_.in_channels) +
                                ", H, W] with H and W multiples of " + std::to_string(factor) + ", got " +
                                shape_str(image.sizes().vec()));
  }
  const at::Tensor x = image.to(quant_conv.weight.options());
  std::vector<at::Tensor> moments;
  for (int64_t i = 0; i < x.size(0); ++i) {
    moments.push_back(quant_conv.forward(encoder.forward(x.narrow(0, i, 1))).to(image.scalar_type()));
  }
  const auto parts = (moments.size() == 1 ? moments[0] : at::cat(moments)).chunk(2, 1);
  return {parts[0], at::clamp(parts[1], -30.0, 20.0)};
}

at::Tensor VaeModel::sample_latents(const VaeMoments& m, at::Generator cpu_generator) const {
  const at::Tensor eps = at::randn(m.mean.sizes(), cpu_generator, at::TensorOptions().dtype(at::kFloat))
                             .to(m.mean.options());
  return (m.mean + at::exp(m.logvar * 0.5) * eps) * config_.scaling_factor;
}

at::Tensor VaeModel::mean_latents(const VaeMoments& m) const { return m.mean * config_.scaling_factor; }

}  // namespace sdxlw::nn
