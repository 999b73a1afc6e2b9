#include "nn/module.h"

#include "nn/fast_ops.h"

namespace sdxlw::nn {

std::vector<ParamSlot> Module::parameters(const std::string& prefix) {
  std::vector<ParamSlot> out;
  collect(prefix, out);
  return out;
}

void Module::collect(const std::string& prefix, std::vector<ParamSlot>& out) {
  const std::string base = prefix.empty() ? prefix : prefix + ".";
  for (auto& p : params_) out.push_back({base + p.name, p.shape, &p.tensor});
  for (auto& [name, child] : children_) child->collect(base + name, out);
}

at::Tensor& Module::add_param(std::string name, std::vector<int64_t> shape) {
  params_.push_back({std::move(name), std::move(shape), at::Tensor()});
  return params_.back().tensor;
}

Linear::Linear(int64_t in, int64_t out, bool with_bias) : weight(add_param("weight", {out, in})) {
  if (with_bias) bias = &add_param("bias", {out});
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  return nn::linear(x, weight, bias ? *bias : at::Tensor());
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_,
               bool with_bias)
    : weight(add_param("weight", {out, in, kernel, kernel})), stride(stride_), padding(padding_) {
  if (with_bias) bias = &add_param("bias", {out});
}

at::Tensor Conv2d::forward(const at::Tensor& x) const {
  return at::conv2d(x, weight, bias ? *bias : at::Tensor(), {stride, stride}, {padding, padding});
}

GroupNorm::GroupNorm(int64_t groups_, int64_t channels, double eps_)
    : weight(add_param("weight", {channels})),
      bias(add_param("bias", {channels})),
      groups(groups_),
      eps(eps_) {}

at::Tensor GroupNorm::forward(const at::Tensor& x) const {
  return nn::group_norm(x, groups, weight, bias, eps);
}

LayerNorm::LayerNorm(int64_t dim_, double eps_)
    : weight(add_param("weight", {dim_})), bias(add_param("bias", {dim_})), dim(dim_), eps(eps_) {}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return nn::layer_norm(x, dim, weight, bias, eps);
}

Embedding::Embedding(int64_t count, int64_t dim) : weight(add_param("weight", {count, dim})) {}

at::Tensor Embedding::forward(const at::Tensor& ids) const { return at::embedding(weight, ids); }

}  // namespace sdxlw::nn
