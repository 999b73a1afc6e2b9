#pragma once
// The UNet's non-text conditioning: sinusoidal timestep embeddings and SDXL's "adm" vector
// (pooled text embedding + size/crop micro-conditioning).

#include <ATen/ATen.h>

namespace sdxlw::nn {

// t: [B] (or a scalar), float, may be fractional → [B, dim] float32, [cos(t·f) | sin(t·f)] with
// f_i = exp(−ln(10000)·i/(dim/2)), i = 0..dim/2−1 (sgm timestep_embedding; cos first). An odd dim
// gets a zero last column.
at::Tensor timestep_embedding(const at::Tensor& t, int64_t dim);

// [H, W, 0, 0, H, W] as float32 [6]: original size, crop top-left, target size; height first.
at::Tensor sdxl_time_ids(int64_t height, int64_t width);

// pooled: [B, P]; time_ids: [6] (shared) or [B, 6] → [B, P + 6·embed_dim] in pooled's dtype and
// device: concat(pooled, emb(H), emb(W), emb(0), emb(0), emb(H), emb(W)), pooled first.
// embed_dim is SdxlConfig::size_embed_dim (256 for SDXL base).
at::Tensor sdxl_adm(const at::Tensor& pooled, const at::Tensor& time_ids, int64_t embed_dim);
at::Tensor sdxl_adm(const at::Tensor& pooled, int64_t height, int64_t width, int64_t embed_dim);

}  // namespace sdxlw::nn
