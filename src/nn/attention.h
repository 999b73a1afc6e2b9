#pragma once
// Scaled dot-product attention for every network, in one place: libtorch ≥ 2.0 uses
// at::scaled_dot_product_attention (flash / memory-efficient kernels on CUDA); older libtorch a
// plain softmax(q·kᵀ/√d)·v path that bounds its score matrix by working in slices.

#include <ATen/ATen.h>

namespace sdxlw::nn {

// q: [B, N, heads·D], k and v: [B, M, heads·D] (any strides) → [B, N, heads·D], scale 1/√D.
// `causal` masks key j > query i (text encoders). Computes in q's dtype.
at::Tensor multi_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                int64_t heads, bool causal = false);

// True when multi_head_attention uses at::scaled_dot_product_attention.
bool uses_fused_attention();

// The plain path (what libtorch < 2.0 uses), same arguments, with the largest score-matrix slice
// it may hold at once in bytes; exposed so tests can force slicing on small inputs.
at::Tensor plain_multi_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      int64_t heads, bool causal, int64_t score_budget_bytes);

}  // namespace sdxlw::nn
