#pragma once
// Architecture hyper-parameters of the four SDXL networks, read from a checkpoint's tensor shapes
// (never assumed): the same code serves SDXL base and the tiny fixture checkpoints.

#include <cstdint>
#include <string>
#include <vector>

#include "nn/shape_map.h"

namespace sdxlw::nn {

// Key prefixes of a single-file SDXL checkpoint (no trailing dot; Module::parameters joins with '.').
inline constexpr const char* kUNetPrefix = "model.diffusion_model";
inline constexpr const char* kTe1Prefix = "conditioner.embedders.0.transformer.text_model";
inline constexpr const char* kTe2Prefix = "conditioner.embedders.1.model";
inline constexpr const char* kVaePrefix = "first_stage_model";

// Width of one attention head everywhere in SDXL; heads = width / 64, at least 1.
inline constexpr int64_t kHeadDim = 64;
int64_t heads_for_width(int64_t width);

// CLIP ViT-L text model (HF CLIPTextModel layout), QuickGELU, causal, pre-LN.
struct ClipTextConfig {
  int64_t vocab = 0, width = 0, heads = 0, layers = 0, positions = 0, mlp_dim = 0;
  static ClipTextConfig detect(const ShapeQuery& keys, const std::string& prefix = kTe1Prefix);
  std::string describe() const;
};

// OpenCLIP ViT-bigG text tower (open_clip layout: fused in_proj), exact GELU, causal, pre-LN.
struct OpenClipTextConfig {
  int64_t vocab = 0, width = 0, heads = 0, layers = 0, positions = 0, mlp_dim = 0;
  int64_t projection = 0;  // pooled width
  // `text_projection` [W, P] is applied as x @ P; a `text_projection.weight` [P, W] as x @ Wᵀ.
  bool projection_is_linear = false;
  static OpenClipTextConfig detect(const ShapeQuery& keys, const std::string& prefix = kTe2Prefix);
  std::string describe() const;
};

// The sgm/ldm UNet with linear SpatialTransformers and a label_emb ("adm") input.
struct UNetConfig {
  int64_t in_channels = 0, out_channels = 0, model_channels = 0, time_embed_dim = 0;
  std::vector<int64_t> channel_mult;  // per level
  int64_t num_res_blocks = 0;         // per level (the decoder side has one more)
  std::vector<int64_t> depth;         // transformer blocks per attention, per level; 0 = none
  int64_t middle_depth = 0;
  int64_t context_dim = 0;
  int64_t adm_in = 0;

  size_t levels() const { return channel_mult.size(); }
  int64_t channels(size_t level) const { return model_channels * channel_mult[level]; }
  // Downsampling factors of the levels that have attention, highest first ("attention_resolutions").
  std::vector<int64_t> attention_resolutions() const;
  static UNetConfig detect(const ShapeQuery& keys, const std::string& prefix = kUNetPrefix);
  std::string describe() const;
};

// The ldm AutoencoderKL (encoder + decoder, attention only in the mid blocks).
struct VaeConfig {
  int64_t in_channels = 0, out_channels = 0, ch = 0, num_res_blocks = 0;
  int64_t z_channels = 0, embed_dim = 0;
  std::vector<int64_t> ch_mult;
  // Latent scale of the SDXL VAE (sd_xl_base.yaml scale_factor); not stored in checkpoints.
  double scaling_factor = 0.13025;
  static VaeConfig detect(const ShapeQuery& keys, const std::string& prefix = kVaePrefix);
  std::string describe() const;
};

struct SdxlConfig {
  ClipTextConfig te1;
  OpenClipTextConfig te2;
  UNetConfig unet;
  VaeConfig vae;
  // Width of each of the 6 size/crop embeddings in the adm vector: (adm_in - te2.projection) / 6.
  int64_t size_embed_dim = 0;

  // Detects all four networks and checks they fit together (context = TE1 + TE2 widths, adm =
  // pooled + 6 size embeddings). Throws std::runtime_error naming the tensor / mismatch.
  static SdxlConfig detect(const ShapeMap& shapes);
};

}  // namespace sdxlw::nn
