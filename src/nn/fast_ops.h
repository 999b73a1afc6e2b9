#pragma once
// The few ATen calls the networks spend their time in, routed to the fastest kernel libtorch offers
// for the device, dtype and layout at hand. Elsewhere they are the plain ATen calls. Measured on
// Debian's CPU libtorch 1.13 (oneDNN + OpenBLAS), 2 threads, SDXL shapes:
// - linear, float32 on CPU: oneDNN through a 1×1 convolution over a channels-last view of the
//   input (no copy), 2–3× the rate of the BLAS at::linear uses. (Attention does the same with
//   grouped convolutions: nn/attention.cpp.)
// - layer_norm, bfloat16 on CPU: computed in float32 (1.13's bfloat16 kernel is ~15× slower).
// - group_norm, bfloat16 NCHW on CPU: computed in float32 (channels-last bfloat16 is fast as is).

#include <ATen/ATen.h>

#include <cstdint>

namespace sdxlw::nn {

// True where libtorch runs a CPU convolution over `x` through oneDNN: float32 with more than one
// intra-op thread (ATen's own rule for 1×1 kernels), or bfloat16.
bool onednn_convolution(const at::Tensor& x);

// x [..., in], weight [out, in], bias [out] or undefined → [..., out] (contiguous when x is).
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

// Over the last dimension, of size `dim`.
at::Tensor layer_norm(const at::Tensor& x, int64_t dim, const at::Tensor& weight, const at::Tensor& bias, double eps);

// x [B, C, ...]; the result keeps x's memory format.
at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                      double eps);

}  // namespace sdxlw::nn
