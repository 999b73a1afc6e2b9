#pragma once
// Classifier-free guidance as in diffusers' SDXL pipeline (no guidance rescale).

#include <ATen/ATen.h>

namespace sdxlw::sampling {

// diffusers guides only when guidance_scale > 1; otherwise one UNet pass on the cond batch.
inline bool uses_cfg(double guidance_scale) { return guidance_scale > 1.0; }

// uncond + g * (cond - uncond), in the inputs' dtype; both [N, ...] of the same shape.
at::Tensor apply_cfg(const at::Tensor& eps_uncond, const at::Tensor& eps_cond,
                     double guidance_scale);

// The same from one UNet output over the doubled batch [2N, ...] (uncond half first).
at::Tensor apply_cfg(const at::Tensor& eps_batched, double guidance_scale);

}  // namespace sdxlw::sampling
