#include "nn/fast_ops.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <vector>

namespace sdxlw::nn {

namespace {

// Below this many rows the convolution's set-up costs more than BLAS loses.
constexpr int64_t kMinOneDnnRows = 32;

bool onednn_linear_applies(const at::Tensor& x, const at::Tensor& weight) {
  // bfloat16 linears already run in oneDNN (at::linear → mkldnn matmul).
  return x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat && onednn_convolution(x) &&
         x.dim() >= 2 && x.is_contiguous() && weight.is_contiguous() && x.numel() / x.size(-1) >= kMinOneDnnRows;
}

bool cpu_bf16(const at::Tensor& x) { return x.is_cpu() && x.scalar_type() == at::kBFloat16; }

at::Tensor to_float(const at::Tensor& t) { return t.defined() ? t.to(at::kFloat) : t; }

}  // namespace

bool onednn_convolution(const at::Tensor& x) {
  if (!x.is_cpu() || !at::hasMKLDNN() || !at::globalContext().userEnabledMkldnn()) return false;
  return x.scalar_type() == at::kBFloat16 || (x.scalar_type() == at::kFloat && at::get_num_threads() > 1);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!onednn_linear_applies(x, weight)) return at::linear(x, weight, bias);
  const int64_t in = x.size(-1), out = weight.size(0), rows = x.numel() / in;
  // [rows, in] row-major is the channels-last layout of [1, in, rows, 1].
  const at::Tensor image = x.view({1, rows, 1, in}).permute({0, 3, 1, 2});
  const at::Tensor y = at::conv2d(image, weight.view({out, in, 1, 1}), bias);  // [1, out, rows, 1]
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = out;
  return y.permute({0, 2, 3, 1}).reshape(sizes);  // a view when y came back channels-last
}

at::Tensor layer_norm(const at::Tensor& x, int64_t dim, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  if (!cpu_bf16(x)) return at::layer_norm(x, {dim}, weight, bias, eps);
  return at::layer_norm(x.to(at::kFloat), {dim}, to_float(weight), to_float(bias), eps).to(at::kBFloat16);
}

at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                      double eps) {
  if (!cpu_bf16(x) || x.dim() != 4 || x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return at::group_norm(x, groups, weight, bias, eps);
  }
  return at::group_norm(x.to(at::kFloat), groups, to_float(weight), to_float(bias), eps).to(at::kBFloat16);
}

}  // namespace sdxlw::nn
