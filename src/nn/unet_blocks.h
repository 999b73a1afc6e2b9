#pragma once
// The layers of the sgm/ldm SDXL UNet, named after the checkpoint keys:
//   ResBlock            in_layers.{0,2}, emb_layers.1, out_layers.{0,3}, skip_connection
//   SpatialTransformer  norm, proj_in, transformer_blocks.K.{attn1,attn2,ff,norm1..3}, proj_out
//   Downsample          op   (3×3, stride 2, padding 1)
//   Upsample            conv (nearest ×2, then 3×3)

#include <ATen/ATen.h>

#include <vector>

#include "nn/module.h"

namespace sdxlw::nn {

class ResBlock : public Module {
 public:
  ResBlock(int64_t in, int64_t out, int64_t emb_dim);
  // x: [B, in, H, W]; emb_act: SiLU(emb) [B, emb_dim] (computed once per UNet pass) → [B, out, H, W]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& emb_act) const;

  GroupNorm& in_norm;   // in_layers.0
  Conv2d& in_conv;      // in_layers.2
  Linear& emb_proj;     // emb_layers.1
  GroupNorm& out_norm;  // out_layers.0
  Conv2d& out_conv;     // out_layers.3
  Conv2d* skip = nullptr;  // skip_connection (1×1) when in != out
};

class CrossAttention : public Module {
 public:
  CrossAttention(int64_t dim, int64_t context_dim, int64_t heads);
  // x: [B, N, dim]; context: [B, M, context_dim] → [B, N, dim]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;

  Linear& to_q;
  Linear& to_k;
  Linear& to_v;
  Linear& to_out;  // to_out.0
  int64_t heads;
};

class BasicTransformerBlock : public Module {
 public:
  BasicTransformerBlock(int64_t dim, int64_t context_dim, int64_t heads);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;  // [B, N, dim]

  CrossAttention& attn1;  // self-attention
  Linear& ff_proj;        // ff.net.0.proj: GEGLU, dim → 2·4·dim ([value | gate])
  Linear& ff_out;         // ff.net.2: 4·dim → dim
  CrossAttention& attn2;  // cross-attention over the text context
  LayerNorm& norm1;
  LayerNorm& norm2;
  LayerNorm& norm3;
};

class SpatialTransformer : public Module {
 public:
  SpatialTransformer(int64_t channels, int64_t depth, int64_t context_dim, int64_t heads);
  // x: [B, C, H, W]; context: [B, M, context_dim] → [B, C, H, W]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;

  GroupNorm& norm;
  Linear& proj_in;
  std::vector<BasicTransformerBlock*> blocks;
  Linear& proj_out;

 private:
  std::vector<BasicTransformerBlock*> add_blocks(int64_t channels, int64_t depth, int64_t context_dim,
                                                 int64_t heads);
};

class Downsample : public Module {
 public:
  explicit Downsample(int64_t channels);
  at::Tensor forward(const at::Tensor& x) const { return op.forward(x); }
  Conv2d& op;
};

class Upsample : public Module {
 public:
  explicit Upsample(int64_t channels);
  at::Tensor forward(const at::Tensor& x) const;  // [B, C, H, W] -> [B, C, 2H, 2W]
  Conv2d& conv;
};

// Nearest-neighbour ×2 upsampling, [B, C, H, W] -> [B, C, 2H, 2W].
at::Tensor upsample_nearest_2x(const at::Tensor& x);

}  // namespace sdxlw::nn
