// The CPU load path: conversions straight from the mapping give what ATen's own conversions give,
// bit for bit, in whichever layout was asked for, with resident memory never holding the file
// and the weights at once.

#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <string>
#include <utility>
#include <vector>

#include "nn_test_util.h"

namespace sdxlw::nn {
namespace {

using test::TempDir;

TEST(LoadPath, ReadTensorsConvertsExactlyLikeAten) {
  at::manual_seed(7);
  // Sizes around the 4 MiB slices and the page size, and a conv weight that gets permuted.
  const std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"big", at::randn({3, 1 << 20}).to(at::kHalf)},
      {"odd", at::randn({1, 1025}).to(at::kHalf)},
      {"conv", at::randn({16, 8, 3, 3}).to(at::kHalf)},
      {"pointwise", at::randn({16, 8, 1, 1}).to(at::kHalf)},
      {"bf16", at::randn({5, 7}).to(at::kBFloat16)},
      {"f32", at::randn({9}).to(at::kFloat)},
      {"empty", at::empty({0, 4}, at::kHalf)}};
  TempDir dir;
  const std::string path = (dir / "t.safetensors").string();
  write_safetensors(path, tensors);
  const SafetensorsFile file = SafetensorsFile::open(path);
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    for (const auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
      std::vector<TensorRead> reads;
      for (const auto& [name, t] : tensors) reads.push_back({&file.at(name), dtype, format});
      const std::vector<at::Tensor> out = read_tensors_cpu(file, reads);
      ASSERT_EQ(out.size(), tensors.size());
      for (size_t i = 0; i < tensors.size(); ++i) {
        const at::Tensor& expected = tensors[i].second;
        SCOPED_TRACE(tensors[i].first + " to " + c10::toString(dtype));
        EXPECT_EQ(out[i].scalar_type(), dtype);
        EXPECT_EQ(out[i].sizes(), expected.sizes());
        EXPECT_TRUE(at::equal(out[i], expected.to(dtype)));
        const bool permuted = format == at::MemoryFormat::ChannelsLast && expected.dim() == 4;
        EXPECT_TRUE(out[i].is_contiguous(permuted ? format : at::MemoryFormat::Contiguous));
        EXPECT_TRUE(at::equal(read_tensor(file, *reads[i].info, at::kCPU, dtype, format), out[i]));
      }
    }
  }
}

TEST(LoadPath, ChannelsLastLoadHoldsTheSameValuesInNhwcConvolutionWeights) {
  c10::InferenceMode guard;
  const SdxlModel& plain = test::tiny_model();
  LoadOptions options;
  options.channels_last = true;
  const SdxlModel nhwc = load_sdxl_checkpoint(test::tiny_checkpoint().string(), options);
  const auto a = plain.parameters(), b = nhwc.parameters();
  ASSERT_EQ(a.size(), b.size());
  int permuted = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].name, b[i].name);
    EXPECT_TRUE(at::equal(*a[i].tensor, *b[i].tensor)) << a[i].name;
    const at::Tensor& t = *b[i].tensor;
    const bool conv = t.dim() == 4 && (a[i].name.rfind("model.diffusion_model.", 0) == 0 ||
                                       a[i].name.rfind("first_stage_model.", 0) == 0);
    if (conv) {
      EXPECT_TRUE(t.is_contiguous(at::MemoryFormat::ChannelsLast)) << a[i].name;
      permuted += t.size(2) > 1;
    } else {
      EXPECT_TRUE(t.is_contiguous()) << a[i].name;
    }
  }
  EXPECT_GT(permuted, 50);  // every 3×3 convolution of the UNet and the VAE
}

TEST(LoadPath, TheSameOnOneThreadAndOnSeveral) {
  c10::InferenceMode guard;
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  LoadOptions options;
  options.text_dtype = options.unet_dtype = at::kBFloat16;
  const SdxlModel one = load_sdxl_checkpoint(test::tiny_checkpoint().string(), options);
  at::set_num_threads(2);
  const SdxlModel two = load_sdxl_checkpoint(test::tiny_checkpoint().string(), options);
  at::set_num_threads(saved);
  const auto a = one.parameters(), b = two.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(*a[i].tensor, *b[i].tensor)) << a[i].name;
}

}  // namespace
}  // namespace sdxlw::nn
