// Resolving --device / --dtype / --threads into the per-network plan.

#include "engine/engine_plan.h"

#include <gtest/gtest.h>

namespace sdxlw::engine {
namespace {

EngineOptions options(const std::string& device, const std::string& dtype, int threads = 0) {
  EngineOptions o;
  o.device = device;
  o.dtype = dtype;
  o.threads = threads;
  return o;
}

const MachineInfo kCpuBox{false, false, 8};
const MachineInfo kAmpereBox{true, true, 16};
const MachineInfo kTuringBox{true, false, 16};
const MachineInfo kOneDnnCpuBox{false, false, 2, true};

std::string error_of(const EngineOptions& o, const MachineInfo& m) {
  try {
    resolve_plan(o, m);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(EnginePlan, AutoOnCpuIsFloat32WithEveryCore) {
  const EnginePlan plan = resolve_plan(options("auto", "auto"), kCpuBox);
  EXPECT_TRUE(plan.device.is_cpu());
  EXPECT_EQ(plan.text_dtype, at::kFloat);
  EXPECT_EQ(plan.unet_dtype, at::kFloat);
  EXPECT_EQ(plan.vae_dtype, at::kFloat);
  EXPECT_EQ(plan.threads, 8);
  EXPECT_FALSE(plan.channels_last);
  EXPECT_EQ(plan.describe(), "cpu: text fp32, unet fp32, vae fp32, 8 threads");
}

TEST(EnginePlan, CpuWithOneDnnRunsConvolutionsChannelsLast) {
  const EnginePlan plan = resolve_plan(options("cpu", "bf16"), kOneDnnCpuBox);
  EXPECT_TRUE(plan.channels_last);
  EXPECT_EQ(plan.unet_dtype, at::kBFloat16);
  EXPECT_EQ(plan.vae_dtype, at::kFloat);
  EXPECT_EQ(plan.describe(), "cpu: text bf16, unet bf16, vae fp32, 2 threads, channels-last");
}

TEST(EnginePlan, AutoOnAmpereIsFp16WithBf16Vae) {
  const EnginePlan plan = resolve_plan(options("auto", "auto"), kAmpereBox);
  EXPECT_TRUE(plan.device.is_cuda());
  EXPECT_EQ(plan.text_dtype, at::kHalf);
  EXPECT_EQ(plan.unet_dtype, at::kHalf);
  EXPECT_EQ(plan.vae_dtype, at::kBFloat16);
  EXPECT_TRUE(plan.channels_last);
}

TEST(EnginePlan, Fp16WithoutBf16SupportKeepsTheVaeInFloat32) {
  const EnginePlan plan = resolve_plan(options("cuda", "fp16"), kTuringBox);
  EXPECT_EQ(plan.unet_dtype, at::kHalf);
  EXPECT_EQ(plan.vae_dtype, at::kFloat);  // the SDXL VAE overflows in fp16
  EXPECT_NE(error_of(options("cuda", "bf16"), kTuringBox).find("compute capability 8.0"), std::string::npos);
}

TEST(EnginePlan, Bf16OnCpuKeepsTheVaeInFloat32) {
  const EnginePlan plan = resolve_plan(options("cpu", "BF16", 3), kAmpereBox);
  EXPECT_TRUE(plan.device.is_cpu());
  EXPECT_EQ(plan.text_dtype, at::kBFloat16);
  EXPECT_EQ(plan.unet_dtype, at::kBFloat16);
  EXPECT_EQ(plan.vae_dtype, at::kFloat);
  EXPECT_EQ(plan.threads, 3);
}

TEST(EnginePlan, Fp32OnCudaIsFloat32Everywhere) {
  const EnginePlan plan = resolve_plan(options("cuda:1", "fp32"), kAmpereBox);
  EXPECT_EQ(plan.device, at::Device(at::kCUDA, 1));
  EXPECT_EQ(plan.unet_dtype, at::kFloat);
  EXPECT_EQ(plan.vae_dtype, at::kFloat);
}

TEST(EnginePlan, ImpossibleChoicesNameTheOption) {
  EXPECT_NE(error_of(options("cuda", "auto"), kCpuBox).find("no CUDA GPU"), std::string::npos);
  EXPECT_NE(error_of(options("cpu", "fp16"), kAmpereBox).find("needs a CUDA GPU"), std::string::npos);
  EXPECT_NE(error_of(options("gpu", "auto"), kAmpereBox).find("device \"gpu\" is unknown"), std::string::npos);
  EXPECT_NE(error_of(options("cuda:x", "auto"), kAmpereBox).find("not valid"), std::string::npos);
  EXPECT_NE(error_of(options("cpu", "fp8"), kCpuBox).find("dtype \"fp8\" is unknown"), std::string::npos);
  EXPECT_NE(error_of(options("cpu", "auto", -2), kCpuBox).find("threads"), std::string::npos);
}

}  // namespace
}  // namespace sdxlw::engine
