#pragma once
// The SDXL UNet (sgm/ldm names under kUNetPrefix): time_embed, label_emb, input_blocks,
// middle_block, output_blocks, out. Its shape comes entirely from a UNetConfig.

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "nn/sdxl_config.h"
#include "nn/unet_blocks.h"

namespace sdxlw::nn {

// One entry of input_blocks / middle_block / output_blocks: layers named "0", "1", "2" applied in
// order (a conv, ResBlock, SpatialTransformer, Downsample or Upsample each).
class UNetBlock : public Module {
 public:
  Conv2d& add_conv(int64_t in, int64_t out);
  ResBlock& add_res(int64_t in, int64_t out, int64_t emb_dim);
  SpatialTransformer& add_attention(int64_t channels, int64_t depth, int64_t context_dim);
  Downsample& add_down(int64_t channels);
  Upsample& add_up(int64_t channels);

  at::Tensor forward(at::Tensor x, const at::Tensor& emb_act, const at::Tensor& context) const;

 private:
  enum class Kind { Conv, Res, Attention, Down, Up };
  std::string next_name() const { return std::to_string(layers_.size()); }
  std::vector<std::pair<Kind, const Module*>> layers_;
};

class UNetModel : public Module {
 public:
  explicit UNetModel(const UNetConfig& config);
  const UNetConfig& config() const { return config_; }

  // x: [B, in, h, w] with h, w multiples of 2^(levels−1); t: [B] or a scalar (float, may be
  // fractional); context: [B, M, context_dim]; adm: [B, adm_in] (sdxl_adm) → [B, out, h, w].
  // Computes in the weights' dtype and returns x's dtype.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                     const at::Tensor& adm) const;

  Linear& time_embed_0;
  Linear& time_embed_2;
  Linear& label_emb_0;
  Linear& label_emb_2;
  std::vector<UNetBlock*> input_blocks;
  UNetBlock& middle_block;
  std::vector<UNetBlock*> output_blocks;
  GroupNorm& out_norm;  // out.0
  Conv2d& out_conv;     // out.2

 private:
  std::vector<UNetBlock*> add_input_blocks(const UNetConfig& c);
  UNetBlock& add_middle_block(const UNetConfig& c);
  std::vector<UNetBlock*> add_output_blocks(const UNetConfig& c);
  UNetConfig config_;
};

}  // namespace sdxlw::nn
