// Compiled only against a CUDA libtorch (CMake adds src/engine/*_cuda.cpp and defines
// SDXLW_WITH_CUDA). Written for libtorch 2.x; also syntax-checked against 1.13's headers in CI.

// A same-directory include: the CI syntax check compiles this file without the project's
// include path.
#include "device_cuda.h"

#include <ATen/Context.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdio>

namespace sdxlw::engine::cuda_backend {

namespace {

// getDeviceStats / resetPeakStats take an int in 1.x and a c10::DeviceIndex in 2.x.
c10::DeviceIndex device_index(int index) { return static_cast<c10::DeviceIndex>(index); }

}  // namespace

std::string describe(int index) {
  const cudaDeviceProp* prop = at::cuda::getDeviceProperties(index);
  char buf[320];
  std::snprintf(buf, sizeof buf, "cuda:%d (%s, %.1f GiB, compute %d.%d)", index, prop->name,
                static_cast<double>(prop->totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), prop->major, prop->minor);
  return buf;
}

bool supports_bf16(int index) { return at::cuda::getDeviceProperties(index)->major >= 8; }

void enable_cudnn_benchmark() { at::globalContext().setBenchmarkCuDNN(true); }

void empty_cache() { c10::cuda::CUDACachingAllocator::emptyCache(); }

int64_t peak_allocated_bytes(int index) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_index(index));
  return stats.allocated_bytes[0].peak;  // [0]: the aggregate over the small and large pools
}

void reset_peak(int index) { c10::cuda::CUDACachingAllocator::resetPeakStats(device_index(index)); }

void synchronize(int index) {
  const c10::cuda::CUDAGuard guard(device_index(index));
  c10::cuda::getCurrentCUDAStream(device_index(index)).synchronize();
}

}  // namespace sdxlw::engine::cuda_backend
