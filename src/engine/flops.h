#pragma once
// Analytic operation counts of the SDXL networks from their configurations, without building or
// allocating anything: convolutions, linear layers and the attention matrix products (q·kᵀ and
// softmax·v). Norms, activations, embeddings and element-wise ops are left out: they are a
// negligible share of the arithmetic. One multiply-accumulate counts as 2 FLOP.

#include <cstdint>

#include "nn/sdxl_config.h"

namespace sdxlw::engine {

struct OpCount {
  double conv_macs = 0;
  double linear_macs = 0;
  double attention_macs = 0;  // q·kᵀ and softmax·v

  double macs() const { return conv_macs + linear_macs + attention_macs; }
  double flops() const { return 2.0 * macs(); }
  OpCount& operator+=(const OpCount& o);
};

// One UNet forward of `batch` latents of latent_h × latent_w (pixels / 8) with a text context of
// `context_tokens` positions (77 per prompt chunk). Throws std::invalid_argument when the latent
// size is not a multiple of the UNet's downsampling factor or a count is not positive.
OpCount unet_forward_ops(const nn::UNetConfig& config, int64_t latent_h, int64_t latent_w,
                         int64_t context_tokens = 77, int64_t batch = 1);

// post_quant_conv + decoder for one latent of latent_h × latent_w.
OpCount vae_decode_ops(const nn::VaeConfig& config, int64_t latent_h, int64_t latent_w);

// One sequence of `tokens` through every layer of each text encoder (SDXL runs all but the last
// layer of CLIP-L; counted whole here), plus bigG's pooled projection.
OpCount clip_text_ops(const nn::ClipTextConfig& config, int64_t tokens);
OpCount open_clip_text_ops(const nn::OpenClipTextConfig& config, int64_t tokens);

}  // namespace sdxlw::engine
