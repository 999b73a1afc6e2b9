// nn/fast_ops and the oneDNN attention path: the rerouted CPU kernels give what the plain ATen
// calls give (float32 to rounding, bfloat16 to bfloat16 precision), whatever the thread count.

#include "nn/fast_ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "nn/attention.h"

namespace sdxlw::nn {
namespace {

// The oneDNN paths need more than one intra-op thread for float32; restores the count after.
class OneDnnPaths : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = at::get_num_threads();
    at::set_num_threads(2);
  }
  void TearDown() override { at::set_num_threads(saved_); }

 private:
  int saved_ = 1;
};

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// softmax(q kᵀ/√d) v per head in float64.
at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads) {
  const int64_t d = q.size(2) / heads;
  std::vector<at::Tensor> outs;
  for (int64_t h = 0; h < heads; ++h) {
    const at::Tensor qh = q.narrow(2, h * d, d).to(at::kDouble), kh = k.narrow(2, h * d, d).to(at::kDouble);
    const at::Tensor s = at::matmul(qh, kh.transpose(1, 2)) / std::sqrt(static_cast<double>(d));
    outs.push_back(at::matmul(at::softmax(s, -1), v.narrow(2, h * d, d).to(at::kDouble)));
  }
  return at::cat(outs, 2);
}

TEST_F(OneDnnPaths, OneDnnIsUsedForFloat32OnlyWithSeveralThreadsAndAlwaysForBfloat16) {
  if (!at::hasMKLDNN()) GTEST_SKIP() << "libtorch without oneDNN";
  EXPECT_TRUE(onednn_convolution(at::zeros({2, 2})));
  EXPECT_TRUE(onednn_convolution(at::zeros({2, 2}, at::kBFloat16)));
  EXPECT_FALSE(onednn_convolution(at::zeros({2, 2}, at::kDouble)));
  at::set_num_threads(1);
  EXPECT_FALSE(onednn_convolution(at::zeros({2, 2})));
}

TEST_F(OneDnnPaths, LinearMatchesAtLinearForEveryRowCount) {
  at::manual_seed(3);
  const at::Tensor w = at::randn({48, 40}), b = at::randn({48});
  for (int64_t rows : {1, 31, 32, 257}) {
    const at::Tensor x = at::randn({rows, 40});
    const at::Tensor y = nn::linear(x.view({1, rows, 40}), w, b);
    EXPECT_EQ(y.sizes(), (c10::IntArrayRef{1, rows, 48}));
    EXPECT_TRUE(y.is_contiguous());
    EXPECT_LE(max_diff(y.view({rows, 48}), at::linear(x.to(at::kDouble), w.to(at::kDouble), b.to(at::kDouble))),
              2e-5)
        << rows << " rows";
  }
  const at::Tensor x = at::randn({3, 50, 40});
  EXPECT_LE(max_diff(nn::linear(x, w), at::linear(x.to(at::kDouble), w.to(at::kDouble))), 2e-5);  // no bias
  const at::Tensor strided = at::randn({40, 64}).t();  // not contiguous: the plain path
  EXPECT_LE(max_diff(nn::linear(strided, w, b), at::linear(strided, w, b)), 0.0);
}

TEST_F(OneDnnPaths, OneDnnAttentionMatchesTheReferenceInEverySliceBudget) {
  at::manual_seed(4);
  const at::Tensor q = at::randn({2, 37, 24}), k = at::randn({2, 19, 24}), v = at::randn({2, 19, 24});
  const at::Tensor ref = reference_attention(q, k, v, 3);
  // Everything at once; a few query rows per slice; one row per slice.
  for (int64_t budget : {int64_t{1} << 30, int64_t{3 * 19 * 4 * 5}, int64_t{1}}) {
    EXPECT_LE(max_diff(plain_multi_head_attention(q, k, v, 3, /*causal=*/false, budget), ref), 1e-5) << budget;
  }
  // bfloat16: to its precision.
  const auto bf = [](const at::Tensor& t) { return t.to(at::kBFloat16); };
  const at::Tensor out16 = plain_multi_head_attention(bf(q), bf(k), bf(v), 3, false, int64_t{1} << 30);
  EXPECT_EQ(out16.scalar_type(), at::kBFloat16);
  EXPECT_LE(max_diff(out16, ref), 0.05);
}

TEST(FastOps, Bfloat16NormsMatchFloat32ToBfloat16Precision) {
  at::manual_seed(5);
  const at::Tensor x = at::randn({2, 64, 6, 5}) * 3 + 1, w = at::randn({64}), b = at::randn({64});
  const auto bf = [](const at::Tensor& t) { return t.to(at::kBFloat16); };
  const at::Tensor gn = at::group_norm(x, 8, w, b, 1e-5);
  for (auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
    const at::Tensor y = nn::group_norm(bf(x).contiguous(format), 8, bf(w), bf(b), 1e-5);
    EXPECT_EQ(y.scalar_type(), at::kBFloat16);
    EXPECT_TRUE(y.is_contiguous(format));
    EXPECT_LE(max_diff(y, gn), 0.1);
  }
  const at::Tensor t = at::randn({2, 7, 64}) * 3 + 1;
  const at::Tensor ln = nn::layer_norm(bf(t), 64, bf(w), bf(b), 1e-5);
  EXPECT_EQ(ln.scalar_type(), at::kBFloat16);
  EXPECT_LE(max_diff(ln, at::layer_norm(t, {64}, w, b, 1e-5)), 0.1);
  // float32 is left to ATen exactly.
  EXPECT_TRUE(at::equal(nn::layer_norm(t, 64, w, b, 1e-5), at::layer_norm(t, {64}, w, b, 1e-5)));
  EXPECT_TRUE(at::equal(nn::group_norm(x, 8, w, b, 1e-5), gn));
}

}  // namespace
}  // namespace sdxlw::nn
