#include "nn/conditioning.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace sdxlw::nn {

at::Tensor timestep_embedding(const at::Tensor& t, int64_t dim) {
  if (dim < 2) throw std::invalid_argument("timestep_embedding: dim must be at least 2, got " + std::to_string(dim));
  const at::Tensor tf = t.reshape({-1}).to(at::kFloat);  // float32 is needed: t·f reaches ~1000
  const int64_t half = dim / 2;
  const at::Tensor freqs =
      at::exp(at::arange(half, tf.options()).mul_(-std::log(10000.0)).div_(static_cast<double>(half)));
  const at::Tensor args = tf.unsqueeze(1) * freqs.unsqueeze(0);  // [B, half]
  at::Tensor emb = at::cat({at::cos(args), at::sin(args)}, 1);
  if (dim % 2) emb = at::cat({emb, at::zeros({emb.size(0), 1}, emb.options())}, 1);
  return emb;
}

at::Tensor sdxl_time_ids(int64_t height, int64_t width) {
  const float h = static_cast<float>(height), w = static_cast<float>(width);
  return at::tensor(at::ArrayRef<float>({h, w, 0.0f, 0.0f, h, w}), at::TensorOptions().dtype(at::kFloat));
}

at::Tensor sdxl_adm(const at::Tensor& pooled, const at::Tensor& time_ids, int64_t embed_dim) {
  if (pooled.dim() != 2) {
    throw std::invalid_argument("sdxl_adm: pooled must be [B, P], got " + std::to_string(pooled.dim()) + " dims");
  }
  const int64_t b = pooled.size(0);
  at::Tensor ids = time_ids.to(pooled.device());
  if (ids.dim() == 1) ids = ids.unsqueeze(0).expand({b, ids.size(0)});
  if (ids.dim() != 2 || ids.size(0) != b || ids.size(1) != 6) {
    throw std::invalid_argument("sdxl_adm: time_ids must be [6] or [B, 6] with B = " + std::to_string(b));
  }
  const at::Tensor emb = timestep_embedding(ids.reshape({-1}), embed_dim).view({b, 6 * embed_dim});
  return at::cat({pooled, emb.to(pooled.scalar_type())}, 1);
}

at::Tensor sdxl_adm(const at::Tensor& pooled, int64_t height, int64_t width, int64_t embed_dim) {
  return sdxl_adm(pooled, sdxl_time_ids(height, width), embed_dim);
}

}  // namespace sdxlw::nn
