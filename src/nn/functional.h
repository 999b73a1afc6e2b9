#pragma once
// Small tensor helpers shared by the networks.

#include <ATen/ATen.h>

namespace sdxlw::nn {

// SiLU in place on a tensor the caller owns (a fresh intermediate), returning it.
inline at::Tensor silu_inplace(at::Tensor x) {
  at::silu_(x);
  return x;
}

}  // namespace sdxlw::nn
