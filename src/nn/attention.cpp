#include "nn/attention.h"

#include "nn/fast_ops.h"

#include <torch/version.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace sdxlw::nn {

namespace {

// Bound for one slice's score matrix on the plain path; a 1024² SDXL self-attention would
// otherwise need 2·10·16384² floats (21 GB) at once.
constexpr int64_t kScoreBudgetBytes = int64_t{256} << 20;

int64_t head_dim(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads) {
  const int64_t width = q.size(2);
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3 || heads < 1 || width % heads != 0 ||
      k.size(2) != width || v.size(2) != width || k.size(0) != q.size(0) || v.size(0) != q.size(0) ||
      v.size(1) != k.size(1)) {
    throw std::invalid_argument("attention: q [B, N, C], k and v [B, M, C] with C divisible by " +
                                std::to_string(heads) + " heads expected");
  }
  return width / heads;
}

// q: [BH, N, D], k, v: [BH, M, D] → [BH, N, D]
at::Tensor sliced_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                            int64_t budget) {
  const int64_t bh = q.size(0), n = q.size(1), m = k.size(1), d = q.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const at::Tensor kt = k.transpose(1, 2);  // [BH, D, M]
  at::Tensor mask;
  if (causal) mask = at::full({n, m}, -std::numeric_limits<double>::infinity(), q.options()).triu_(1);
  auto block = [&](const at::Tensor& qs, const at::Tensor& kts, const at::Tensor& vs, int64_t row0) {
    at::Tensor scores = causal ? at::baddbmm(mask.narrow(0, row0, qs.size(1)), qs, kts, 1.0, scale)
                               : at::bmm(qs, kts).mul_(scale);
    at::_softmax_out(scores, scores, -1, false);  // a fresh tensor: in place
    return at::bmm(scores, vs);
  };
  const int64_t rows_budget = std::max<int64_t>(1, budget / (m * static_cast<int64_t>(q.element_size())));
  if (bh * n <= rows_budget) return block(q, kt, v, 0);
  at::Tensor out = at::empty({bh, n, d}, q.options());
  if (n <= rows_budget) {
    const int64_t per = rows_budget / n;  // whole heads per slice
    for (int64_t h0 = 0; h0 < bh; h0 += per) {
      const int64_t hn = std::min(per, bh - h0);
      out.narrow(0, h0, hn).copy_(block(q.narrow(0, h0, hn), kt.narrow(0, h0, hn), v.narrow(0, h0, hn), 0));
    }
    return out;
  }
  for (int64_t h = 0; h < bh; ++h) {
    const at::Tensor qh = q.narrow(0, h, 1), kh = kt.narrow(0, h, 1), vh = v.narrow(0, h, 1);
    for (int64_t r0 = 0; r0 < n; r0 += rows_budget) {
      const int64_t rn = std::min(rows_budget, n - r0);
      out.narrow(0, h, 1).narrow(1, r0, rn).copy_(block(qh.narrow(1, r0, rn), kh, vh, r0));
    }
  }
  return out;
}

// One sample through oneDNN: q·kᵀ and p·v as grouped 1×1 convolutions, one group per head, over
// the channels-last view of the row-major [N, C] activations, so no head is split off or merged
// back. On Debian's 1.13 (float32 bmm in OpenBLAS) 2.5–7× faster than the bmm path in float32 at
// SDXL's shapes, up to 1.15× in bfloat16. q [N, C], k and v [M, C] with contiguous rows →
// out [N, C], written in slices of query rows.
void onednn_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, at::Tensor out, int64_t heads,
                      int64_t budget) {
  const int64_t n = q.size(0), m = k.size(0), c = q.size(1), d = c / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const std::array<int64_t, 2> none{0, 0}, one{1, 1};  // padding; stride and dilation
  at::Tensor kw = k.view({m, heads, d}).permute({1, 0, 2}).contiguous();  // [H, M, D]
  kw.mul_(scale);
  kw = kw.view({heads * m, d, 1, 1});
  const at::Tensor vw = v.view({m, heads, d}).permute({1, 2, 0}).contiguous().view({heads * d, m, 1, 1});  // [H, D, M]
  const int64_t rows = std::max<int64_t>(1, budget / (heads * m * static_cast<int64_t>(q.element_size())));
  for (int64_t r0 = 0; r0 < n; r0 += rows) {
    const int64_t rn = std::min(rows, n - r0);
    auto image = [rn](const at::Tensor& t) { return t.view({1, rn, 1, t.size(-1)}).permute({0, 3, 1, 2}); };
    const at::Tensor scores = at::conv2d(image(q.narrow(0, r0, rn)), kw, {}, one, none, one, heads);
    const at::Tensor p = scores.permute({0, 2, 3, 1}).reshape({rn, heads * m});  // a view when channels-last
    at::Tensor per_head = p.view({rn, heads, m});
    at::_softmax_out(per_head, per_head, -1, false);
    const at::Tensor o = at::conv2d(image(p), vw, {}, one, none, one, heads);  // [1, C, rn, 1]
    out.narrow(0, r0, rn).copy_(o.permute({0, 2, 3, 1}).reshape({rn, c}));
  }
}

}  // namespace

bool uses_fused_attention() { return TORCH_VERSION_MAJOR >= 2; }

at::Tensor plain_multi_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      int64_t heads, bool causal, int64_t score_budget_bytes) {
  const int64_t d = head_dim(q, k, v, heads);
  const int64_t b = q.size(0), n = q.size(1), m = k.size(1);
  if (!causal && onednn_convolution(q) && k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type()) {
    at::Tensor out = at::empty({b, n, heads * d}, q.options());
    for (int64_t i = 0; i < b; ++i) {
      onednn_attention(q[i].contiguous(), k[i].contiguous(), v[i].contiguous(), out[i], heads, score_budget_bytes);
    }
    return out;
  }
  auto split = [&](const at::Tensor& t, int64_t len) {
    return t.reshape({b, len, heads, d}).transpose(1, 2).reshape({b * heads, len, d});
  };
  const at::Tensor o = sliced_attention(split(q, n), split(k, m), split(v, m), causal, score_budget_bytes);
  return o.view({b, heads, n, d}).transpose(1, 2).reshape({b, n, heads * d});
}

at::Tensor multi_head_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                int64_t heads, bool causal) {
#if TORCH_VERSION_MAJOR >= 2
  const int64_t d = head_dim(q, k, v, heads);
  const int64_t b = q.size(0), n = q.size(1), m = k.size(1);
  auto split = [&](const at::Tensor& t, int64_t len) { return t.reshape({b, len, heads, d}).transpose(1, 2); };
  const at::Tensor o = at::scaled_dot_product_attention(split(q, n), split(k, m), split(v, m),
                                                        /*attn_mask=*/{}, /*dropout_p=*/0.0, causal);
  return o.transpose(1, 2).reshape({b, n, heads * d});  // [B, N, heads·D]
#else
  return plain_multi_head_attention(q, k, v, heads, causal, kScoreBudgetBytes);
#endif
}

}  // namespace sdxlw::nn
