#pragma once
// SDXL's two text encoders as module trees with the checkpoint's names:
//   ClipTextModel     — CLIP ViT-L (HF CLIPTextModel names), under kTe1Prefix
//   OpenClipTextModel — OpenCLIP ViT-bigG (open_clip names, fused in_proj), under kTe2Prefix
// Both: x = tok_emb[ids] + pos_emb; per layer x += attn(LN1(x)) (causal), x += mlp(LN2(x)).

#include <ATen/ATen.h>

#include <vector>

#include "nn/module.h"
#include "nn/sdxl_config.h"

namespace sdxlw::nn {

class ClipEncoderLayer : public Module {
 public:
  ClipEncoderLayer(int64_t width, int64_t mlp_dim, int64_t heads);
  at::Tensor forward(const at::Tensor& x) const;  // [B, N, W] -> [B, N, W]

  Linear& k_proj;
  Linear& v_proj;
  Linear& q_proj;
  Linear& out_proj;
  LayerNorm& layer_norm1;
  Linear& fc1;
  Linear& fc2;
  LayerNorm& layer_norm2;
  int64_t heads;
};

class ClipTextModel : public Module {
 public:
  explicit ClipTextModel(const ClipTextConfig& config);
  const ClipTextConfig& config() const { return config_; }

  // ids: int64 [B, N], N ≤ positions → [B, N, width] in the weights' dtype: the output of the first
  // `layers` encoder layers (no final LayerNorm).
  at::Tensor hidden_state(const at::Tensor& ids, int64_t layers) const;
  // SDXL's context part: hidden_states[-2], the output of layer L−1.
  at::Tensor penultimate(const at::Tensor& ids) const { return hidden_state(ids, config_.layers - 1); }

  Embedding& token_embedding;
  Embedding& position_embedding;
  std::vector<ClipEncoderLayer*> layers;
  LayerNorm& final_layer_norm;  // loaded (it is in the checkpoint) but unused by SDXL

 private:
  std::vector<ClipEncoderLayer*> add_layers(const ClipTextConfig& config);
  ClipTextConfig config_;
};

class OpenClipResBlock : public Module {
 public:
  OpenClipResBlock(int64_t width, int64_t mlp_dim, int64_t heads);
  at::Tensor forward(const at::Tensor& x) const;  // [B, N, W] -> [B, N, W]

  LayerNorm& ln_1;
  at::Tensor& in_proj_weight;  // [3W, W], rows q | k | v
  at::Tensor& in_proj_bias;    // [3W]
  Linear& out_proj;
  LayerNorm& ln_2;
  Linear& c_fc;
  Linear& c_proj;
  int64_t heads;
};

struct OpenClipOutput {
  at::Tensor penultimate;  // [B, N, width], output of layer L−1, no ln_final
  at::Tensor pooled;       // [B, projection]: ln_final(last layer)[argmax(ids)] projected
};

class OpenClipTextModel : public Module {
 public:
  explicit OpenClipTextModel(const OpenClipTextConfig& config);
  const OpenClipTextConfig& config() const { return config_; }

  // ids: int64 [B, N], N ≤ positions; the pooled row of each sequence is its first maximal id
  // (the EOS 49407 when padding with 0). Results in the weights' dtype.
  OpenClipOutput forward(const at::Tensor& ids) const;

  Embedding& token_embedding;
  at::Tensor& positional_embedding;  // [positions, W]
  std::vector<OpenClipResBlock*> resblocks;
  LayerNorm& ln_final;
  at::Tensor& text_projection;  // [W, P] (x @ P), or [P, W] when config.projection_is_linear

 private:
  std::vector<OpenClipResBlock*> add_resblocks(const OpenClipTextConfig& config);
  OpenClipTextConfig config_;
};

}  // namespace sdxlw::nn
