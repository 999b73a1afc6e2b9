#pragma once
// The SDXL VAE (ldm AutoencoderKL names under kVaePrefix): encoder, quant_conv, post_quant_conv,
// decoder. GroupNorm(32, eps 1e-6) and SiLU throughout; one single-head attention in each mid block.

#include <ATen/ATen.h>

#include <vector>

#include "nn/module.h"
#include "nn/sdxl_config.h"

namespace sdxlw::nn {

class VaeResBlock : public Module {
 public:
  VaeResBlock(int64_t in, int64_t out);
  at::Tensor forward(const at::Tensor& x) const;  // [B, in, H, W] -> [B, out, H, W]

  GroupNorm& norm1;
  Conv2d& conv1;
  GroupNorm& norm2;
  Conv2d& conv2;
  Conv2d* nin_shortcut = nullptr;  // 1×1 when in != out
};

// One head over all H·W positions, scale 1/√C; q, k, v, proj_out are 1×1 convs [C, C, 1, 1].
class VaeAttnBlock : public Module {
 public:
  explicit VaeAttnBlock(int64_t channels);
  at::Tensor forward(const at::Tensor& x) const;  // [B, C, H, W]

  GroupNorm& norm;
  Conv2d& q;
  Conv2d& k;
  Conv2d& v;
  Conv2d& proj_out;
};

// mid.block_1, mid.attn_1, mid.block_2
struct VaeMid {
  VaeResBlock* block_1;
  VaeAttnBlock* attn_1;
  VaeResBlock* block_2;
  at::Tensor forward(const at::Tensor& x) const;
};

// A resolution level: its ResBlocks and the down/upsampling conv that follows (null where none).
struct VaeLevel {
  std::vector<VaeResBlock*> blocks;
  Conv2d* resample = nullptr;
};

class VaeEncoder : public Module {
 public:
  explicit VaeEncoder(const VaeConfig& c);
  // [B, in, H, W] (H, W multiples of 2^(levels−1)) -> moments [B, 2·z, H/f, W/f] (before quant_conv)
  at::Tensor forward(const at::Tensor& x) const;

  Conv2d& conv_in;
  std::vector<VaeLevel> down;  // down.i.block.j, down.i.downsample.conv (pad (0,1,0,1), 3×3 stride 2)
  VaeMid mid;
  GroupNorm& norm_out;
  Conv2d& conv_out;

 private:
  std::vector<VaeLevel> add_down(const VaeConfig& c);
  VaeMid add_mid(int64_t channels);
};

class VaeDecoder : public Module {
 public:
  explicit VaeDecoder(const VaeConfig& c);
  at::Tensor forward(const at::Tensor& z) const;  // [B, z, h, w] -> [B, out, h·f, w·f]

  Conv2d& conv_in;
  VaeMid mid;
  std::vector<VaeLevel> up;  // up.i.block.j, up.i.upsample.conv; run from i = L−1 down to 0
  GroupNorm& norm_out;
  Conv2d& conv_out;

 private:
  VaeMid add_mid(int64_t channels);
  std::vector<VaeLevel> add_up(const VaeConfig& c);
};

// The encoder's latent distribution (before the scaling factor), [B, embed_dim, h, w] each.
struct VaeMoments {
  at::Tensor mean;
  at::Tensor logvar;  // clamped to [−30, 20]
};

class VaeModel : public Module {
 public:
  explicit VaeModel(const VaeConfig& config);
  const VaeConfig& config() const { return config_; }

  // latents: [B, embed_dim, h, w] in the UNet's (scaled) space → the decoder's raw output
  // [B, out, 8h, 8w] (about [−1, 1]): decoder(post_quant_conv(latents / scaling_factor)).
  // Computes in the weights' dtype and returns latents' dtype. Images are decoded one at a time:
  // lower peak memory, and CPU bfloat16 convolutions lose precision on batches (fixtures README §5).
  at::Tensor decode(const at::Tensor& latents) const;

  // image: [B, in, H, W] in [−1, 1], H and W multiples of 8 → quant_conv(encoder(image)) split
  // into mean and log-variance, in image's dtype (one image at a time, like decode).
  VaeMoments encode(const at::Tensor& image) const;
  // UNet-space latents from the moments: (mean + exp(logvar/2)·ε)·scaling_factor with
  // ε = randn(mean.shape) drawn in float32 from `cpu_generator` (as diffusers' retrieve_latents).
  at::Tensor sample_latents(const VaeMoments& moments, at::Generator cpu_generator) const;
  at::Tensor mean_latents(const VaeMoments& moments) const;

  VaeEncoder& encoder;
  VaeDecoder& decoder;
  Conv2d& quant_conv;
  Conv2d& post_quant_conv;

 private:
  VaeConfig config_;
};

}  // namespace sdxlw::nn
