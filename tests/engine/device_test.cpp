// The device module on a CPU build: failure classification and the CPU answers of the CUDA calls.

#include "engine/device.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>

namespace sdxlw::engine {
namespace {

template <class Fn>
Failure classify_thrown(Fn fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return classify_failure(e);
  }
  ADD_FAILURE() << "nothing was thrown";
  return Failure::other;
}

TEST(Device, CudaAllocatorOutOfMemoryIsOutOfMemory) {
  EXPECT_EQ(classify_thrown(
                [] { TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory. Tried to allocate 20.00 GiB"); }),
            Failure::out_of_memory);
}

TEST(Device, CpuAllocationFailuresAreOutOfMemory) {
  EXPECT_EQ(classify_thrown([] { throw std::bad_alloc(); }), Failure::out_of_memory);
  EXPECT_EQ(classify_thrown([] {
              TORCH_CHECK(false, "DefaultCPUAllocator: not enough memory: you tried to allocate 1099511627776 bytes.");
            }),
            Failure::out_of_memory);
  EXPECT_EQ(classify_thrown([] { TORCH_CHECK(false, "CUDA error: out of memory"); }), Failure::out_of_memory);
}

TEST(Device, CudaRuntimeErrorsAreDeviceFaults) {
  EXPECT_EQ(classify_thrown([] { TORCH_CHECK(false, "CUDA error: an illegal memory access was encountered"); }),
            Failure::device_fault);
  EXPECT_EQ(classify_thrown([] { TORCH_CHECK(false, "cuDNN error: CUDNN_STATUS_EXECUTION_FAILED"); }),
            Failure::device_fault);
  EXPECT_EQ(classify_thrown([] { TORCH_CHECK(false, "CUBLAS_STATUS_EXECUTION_FAILED when calling cublasGemmEx"); }),
            Failure::device_fault);
}

TEST(Device, OtherErrorsAreNeither) {
  EXPECT_EQ(classify_thrown([] { throw std::runtime_error("lora: file is corrupt"); }), Failure::other);
  EXPECT_EQ(classify_thrown([] { TORCH_CHECK(false, "shape mismatch [1, 2] vs [3]"); }), Failure::other);
}

TEST(Device, ErrorMessageDropsTheLibtorchBacktrace) {
  try {
    TORCH_CHECK(false, "the problem");
  } catch (const std::exception& e) {
    EXPECT_EQ(error_message(e), "the problem");
  }
  EXPECT_EQ(error_message(std::runtime_error("plain")), "plain");
}

TEST(Device, CpuHasNoAllocatorStatisticsAndNativeBf16) {
  const at::Device cpu(at::kCPU);
  EXPECT_EQ(describe_device(cpu), "cpu");
  EXPECT_TRUE(supports_bf16(cpu));
  EXPECT_EQ(peak_memory_bytes(cpu), -1);
  reset_peak_memory(cpu);
  release_cached_memory(cpu);
  configure_for_inference(cpu);
  synchronize(cpu);
  EXPECT_FALSE(at::globalContext().benchmarkCuDNN()) << "CPU set-up must not change CUDA settings";
}

// The CPU's feature flags as the kernel lists them.
std::string cpu_flags() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) == 0) return line + " ";
  }
  return "";
}

TEST(Device, FastCpuBf16FollowsTheAvx512Flags) {
  const std::string flags = cpu_flags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags";
  const bool avx512 = flags.find(" avx512bw ") != std::string::npos && flags.find(" avx512vl ") != std::string::npos &&
                      flags.find(" avx512dq ") != std::string::npos;
#if defined(__x86_64__)
  EXPECT_EQ(cpu_has_fast_bf16(), avx512) << flags;
#else
  EXPECT_FALSE(cpu_has_fast_bf16());
#endif
}

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

TEST(Device, CpuSetUpKeepsFreedBlocksSoTheNextStepDoesNotFaultThemInAgain) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "the allocator settings are glibc's";
#endif
  configure_for_inference(at::Device(at::kCPU));
  constexpr size_t kBytes = size_t{96} << 20;  // above glibc's largest default mmap threshold
  auto touch = [] {
    std::unique_ptr<char[]> block(new char[kBytes]);
    std::memset(block.get(), 1, kBytes);
    return block[kBytes / 2];
  };
  EXPECT_EQ(touch(), 1);
  const long before = minor_faults();
  EXPECT_EQ(touch(), 1);
  // A fresh 96 MiB mapping would fault ~24 000 pages in; the heap's kept block only a few.
  EXPECT_LT(minor_faults() - before, 1000);
  release_cached_memory(at::Device(at::kCPU));  // hands the block back
}

}  // namespace
}  // namespace sdxlw::engine
