#include "nn/unet_blocks.h"

#include <string>

#include "nn/attention.h"
#include "nn/fast_ops.h"
#include "nn/functional.h"

namespace sdxlw::nn {

ResBlock::ResBlock(int64_t in, int64_t out, int64_t emb_dim)
    : in_norm(add<GroupNorm>("in_layers.0", 32, in, 1e-5)),
      in_conv(add<Conv2d>("in_layers.2", in, out, 3, 1, 1)),
      emb_proj(add<Linear>("emb_layers.1", emb_dim, out)),
      out_norm(add<GroupNorm>("out_layers.0", 32, out, 1e-5)),
      out_conv(add<Conv2d>("out_layers.3", out, out, 3, 1, 1)) {
  if (in != out) skip = &add<Conv2d>("skip_connection", in, out, 1);
}

at::Tensor ResBlock::forward(const at::Tensor& x, const at::Tensor& emb_act) const {
  at::Tensor h = in_conv.forward(silu_inplace(in_norm.forward(x)));
  h.add_(emb_proj.forward(emb_act).unsqueeze(-1).unsqueeze(-1));
  h = out_conv.forward(silu_inplace(out_norm.forward(h)));
  return h.add_(skip ? skip->forward(x) : x);
}

CrossAttention::CrossAttention(int64_t dim, int64_t context_dim, int64_t heads_)
    : to_q(add<Linear>("to_q", dim, dim, false)),
      to_k(add<Linear>("to_k", context_dim, dim, false)),
      to_v(add<Linear>("to_v", context_dim, dim, false)),
      to_out(add<Linear>("to_out.0", dim, dim)),
      heads(heads_) {}

at::Tensor CrossAttention::forward(const at::Tensor& x, const at::Tensor& context) const {
  return to_out.forward(
      multi_head_attention(to_q.forward(x), to_k.forward(context), to_v.forward(context), heads));
}

BasicTransformerBlock::BasicTransformerBlock(int64_t dim, int64_t context_dim, int64_t heads)
    : attn1(add<CrossAttention>("attn1", dim, dim, heads)),
      ff_proj(add<Linear>("ff.net.0.proj", dim, 8 * dim)),
      ff_out(add<Linear>("ff.net.2", 4 * dim, dim)),
      attn2(add<CrossAttention>("attn2", dim, context_dim, heads)),
      norm1(add<LayerNorm>("norm1", dim, 1e-5)),
      norm2(add<LayerNorm>("norm2", dim, 1e-5)),
      norm3(add<LayerNorm>("norm3", dim, 1e-5)) {}

at::Tensor BasicTransformerBlock::forward(const at::Tensor& x, const at::Tensor& context) const {
  const at::Tensor n1 = norm1.forward(x);
  at::Tensor h = attn1.forward(n1, n1).add_(x);
  h.add_(attn2.forward(norm2.forward(h), context));
  // GEGLU: value · gelu(gate), the two halves of ff_proj computed apart so that each comes out
  // contiguous (GELU on a strided half of one output is several times slower on CPU).
  const at::Tensor n3 = norm3.forward(h);
  const int64_t inner = ff_proj.weight.size(0) / 2;
  const at::Tensor& w = ff_proj.weight;
  const at::Tensor& b = *ff_proj.bias;
  at::Tensor gate = nn::linear(n3, w.narrow(0, inner, inner), b.narrow(0, inner, inner));
  at::gelu_(gate);
  return h.add_(ff_out.forward(gate.mul_(nn::linear(n3, w.narrow(0, 0, inner), b.narrow(0, 0, inner)))));
}

SpatialTransformer::SpatialTransformer(int64_t channels, int64_t depth, int64_t context_dim, int64_t heads)
    : norm(add<GroupNorm>("norm", 32, channels, 1e-6)),
      proj_in(add<Linear>("proj_in", channels, channels)),
      blocks(add_blocks(channels, depth, context_dim, heads)),
      proj_out(add<Linear>("proj_out", channels, channels)) {}

std::vector<BasicTransformerBlock*> SpatialTransformer::add_blocks(int64_t channels, int64_t depth,
                                                                   int64_t context_dim, int64_t heads) {
  std::vector<BasicTransformerBlock*> out;
  for (int64_t i = 0; i < depth; ++i) {
    out.push_back(&add<BasicTransformerBlock>("transformer_blocks." + std::to_string(i), channels,
                                              context_dim, heads));
  }
  return out;
}

at::Tensor SpatialTransformer::forward(const at::Tensor& x, const at::Tensor& context) const {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor t = proj_in.forward(norm.forward(x).permute({0, 2, 3, 1}).reshape({b, h * w, c}));  // [B, HW, C]
  for (const auto* block : blocks) t = block->forward(t, context);
  t = proj_out.forward(t).view({b, h, w, c}).permute({0, 3, 1, 2});
  return x + t;  // x first: the sum takes x's (contiguous NCHW) layout
}

Downsample::Downsample(int64_t channels) : op(add<Conv2d>("op", channels, channels, 3, 2, 1)) {}

Upsample::Upsample(int64_t channels) : conv(add<Conv2d>("conv", channels, channels, 3, 1, 1)) {}

at::Tensor Upsample::forward(const at::Tensor& x) const { return conv.forward(upsample_nearest_2x(x)); }

at::Tensor upsample_nearest_2x(const at::Tensor& x) {
  return at::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
}

}  // namespace sdxlw::nn
