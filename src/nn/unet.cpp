#include "nn/unet.h"

#include <stdexcept>

#include "nn/conditioning.h"
#include "nn/functional.h"

namespace sdxlw::nn {

// ---- UNetBlock ----

Conv2d& UNetBlock::add_conv(int64_t in, int64_t out) {
  auto& m = add<Conv2d>(next_name(), in, out, 3, 1, 1);
  layers_.emplace_back(Kind::Conv, &m);
  return m;
}

ResBlock& UNetBlock::add_res(int64_t in, int64_t out, int64_t emb_dim) {
  auto& m = add<ResBlock>(next_name(), in, out, emb_dim);
  layers_.emplace_back(Kind::Res, &m);
  return m;
}

SpatialTransformer& UNetBlock::add_attention(int64_t channels, int64_t depth, int64_t context_dim) {
  auto& m = add<SpatialTransformer>(next_name(), channels, depth, context_dim, heads_for_width(channels));
  layers_.emplace_back(Kind::Attention, &m);
  return m;
}

Downsample& UNetBlock::add_down(int64_t channels) {
  auto& m = add<Downsample>(next_name(), channels);
  layers_.emplace_back(Kind::Down, &m);
  return m;
}

Upsample& UNetBlock::add_up(int64_t channels) {
  auto& m = add<Upsample>(next_name(), channels);
  layers_.emplace_back(Kind::Up, &m);
  return m;
}

at::Tensor UNetBlock::forward(at::Tensor x, const at::Tensor& emb_act, const at::Tensor& context) const {
  for (const auto& [kind, m] : layers_) {
    switch (kind) {
      case Kind::Conv: x = static_cast<const Conv2d*>(m)->forward(x); break;
      case Kind::Res: x = static_cast<const ResBlock*>(m)->forward(x, emb_act); break;
      case Kind::Attention: x = static_cast<const SpatialTransformer*>(m)->forward(x, context); break;
      case Kind::Down: x = static_cast<const Downsample*>(m)->forward(x); break;
      case Kind::Up: x = static_cast<const Upsample*>(m)->forward(x); break;
    }
  }
  return x;
}

// ---- UNetModel ----

namespace {

// Channels of each input block's output, in order (what output blocks concatenate back).
std::vector<int64_t> skip_channels(const UNetConfig& c) {
  std::vector<int64_t> out{c.model_channels};
  for (size_t level = 0; level < c.levels(); ++level) {
    for (int64_t i = 0; i < c.num_res_blocks; ++i) out.push_back(c.channels(level));
    if (level + 1 < c.levels()) out.push_back(c.channels(level));
  }
  return out;
}

}  // namespace

UNetModel::UNetModel(const UNetConfig& c)
    : time_embed_0(add<Linear>("time_embed.0", c.model_channels, c.time_embed_dim)),
      time_embed_2(add<Linear>("time_embed.2", c.time_embed_dim, c.time_embed_dim)),
      label_emb_0(add<Linear>("label_emb.0.0", c.adm_in, c.time_embed_dim)),
      label_emb_2(add<Linear>("label_emb.0.2", c.time_embed_dim, c.time_embed_dim)),
      input_blocks(add_input_blocks(c)),
      middle_block(add_middle_block(c)),
      output_blocks(add_output_blocks(c)),
      out_norm(add<GroupNorm>("out.0", 32, c.model_channels, 1e-5)),
      out_conv(add<Conv2d>("out.2", c.model_channels, c.out_channels, 3, 1, 1)),
      config_(c) {}

std::vector<UNetBlock*> UNetModel::add_input_blocks(const UNetConfig& c) {
  std::vector<UNetBlock*> blocks;
  auto next = [&]() -> UNetBlock& {
    blocks.push_back(&add<UNetBlock>("input_blocks." + std::to_string(blocks.size())));
    return *blocks.back();
  };
  next().add_conv(c.in_channels, c.model_channels);
  int64_t ch = c.model_channels;
  for (size_t level = 0; level < c.levels(); ++level) {
    for (int64_t i = 0; i < c.num_res_blocks; ++i) {
      UNetBlock& b = next();
      b.add_res(ch, c.channels(level), c.time_embed_dim);
      ch = c.channels(level);
      if (c.depth[level] > 0) b.add_attention(ch, c.depth[level], c.context_dim);
    }
    if (level + 1 < c.levels()) next().add_down(ch);
  }
  return blocks;
}

UNetBlock& UNetModel::add_middle_block(const UNetConfig& c) {
  const int64_t ch = c.channels(c.levels() - 1);
  UNetBlock& b = add<UNetBlock>("middle_block");
  b.add_res(ch, ch, c.time_embed_dim);
  b.add_attention(ch, c.middle_depth, c.context_dim);
  b.add_res(ch, ch, c.time_embed_dim);
  return b;
}

std::vector<UNetBlock*> UNetModel::add_output_blocks(const UNetConfig& c) {
  std::vector<int64_t> skips = skip_channels(c);
  std::vector<UNetBlock*> blocks;
  int64_t ch = c.channels(c.levels() - 1);
  for (size_t level = c.levels(); level-- > 0;) {
    for (int64_t i = 0; i <= c.num_res_blocks; ++i) {
      UNetBlock& b = add<UNetBlock>("output_blocks." + std::to_string(blocks.size()));
      blocks.push_back(&b);
      const int64_t skip = skips.back();
      skips.pop_back();
      b.add_res(ch + skip, c.channels(level), c.time_embed_dim);
      ch = c.channels(level);
      if (c.depth[level] > 0) b.add_attention(ch, c.depth[level], c.context_dim);
      if (level > 0 && i == c.num_res_blocks) b.add_up(ch);
    }
  }
  return blocks;
}

at::Tensor UNetModel::forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                              const at::Tensor& adm) const {
  const auto& w = time_embed_0.weight;
  const int64_t b = x.size(0);
  const int64_t factor = int64_t{1} << (config_.levels() - 1);
  if (x.dim() != 4 || x.size(1) != config_.in_channels || x.size(2) % factor || x.size(3) % factor) {
    throw std::invalid_argument("unet: latents must be [B, " + std::to_string(config_.in_channels) +
                                ", h, w] with h and w multiples of " + std::to_string(factor) + ", got " +
                                shape_str(x.sizes().vec()));
  }
  if (context.dim() != 3 || context.size(0) != b || context.size(2) != config_.context_dim) {
    throw std::invalid_argument("unet: context must be [" + std::to_string(b) + ", M, " +
                                std::to_string(config_.context_dim) + "], got " + shape_str(context.sizes().vec()));
  }
  if (adm.dim() != 2 || adm.size(0) != b || adm.size(1) != config_.adm_in) {
    throw std::invalid_argument("unet: adm must be [" + std::to_string(b) + ", " + std::to_string(config_.adm_in) +
                                "], got " + shape_str(adm.sizes().vec()));
  }
  at::Tensor ts = t.reshape({-1});
  if (ts.size(0) == 1) ts = ts.expand({b});
  if (ts.size(0) != b) {
    throw std::invalid_argument("unet: t must be a scalar or [" + std::to_string(b) + "], got " +
                                shape_str(t.sizes().vec()));
  }
  const auto opts = w.options();
  at::Tensor emb = time_embed_2.forward(silu_inplace(time_embed_0.forward(
      timestep_embedding(ts.to(w.device()), config_.model_channels).to(w.scalar_type()))));
  emb.add_(label_emb_2.forward(silu_inplace(label_emb_0.forward(adm.to(opts)))));
  const at::Tensor emb_act = at::silu(emb);
  const at::Tensor ctx = context.to(opts);

  at::Tensor h = x.to(opts);
  std::vector<at::Tensor> skips;
  skips.reserve(input_blocks.size());
  for (const auto* block : input_blocks) {
    h = block->forward(h, emb_act, ctx);
    skips.push_back(h);
  }
  h = middle_block.forward(h, emb_act, ctx);
  for (const auto* block : output_blocks) {
    h = at::cat({h, skips.back()}, 1);
    skips.pop_back();
    h = block->forward(h, emb_act, ctx);
  }
  h = out_conv.forward(silu_inplace(out_norm.forward(h)));
  return h.to(x.scalar_type());
}

}  // namespace sdxlw::nn
