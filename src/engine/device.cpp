#include "engine/device.h"

#include <ATen/Context.h>
#include <c10/util/Exception.h>

#include <array>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <new>
#include <string_view>

#if defined(SDXLW_WITH_CUDA)
#include "engine/device_cuda.h"
#endif

namespace sdxlw::engine {

namespace {

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

#if defined(SDXLW_WITH_CUDA)
int cuda_index(at::Device device) { return device.has_index() ? device.index() : 0; }
#endif

}  // namespace

bool cuda_available() { return at::hasCUDA(); }

std::string describe_device(at::Device device) {
#if defined(SDXLW_WITH_CUDA)
  if (device.is_cuda()) return cuda_backend::describe(cuda_index(device));
#endif
  return device.str();
}

bool supports_bf16(at::Device device) {
#if defined(SDXLW_WITH_CUDA)
  if (device.is_cuda()) return cuda_backend::supports_bf16(cuda_index(device));
#endif
  return device.is_cpu();
}

bool cpu_has_fast_bf16() {
#if defined(__x86_64__) && defined(__GNUC__)
  return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

void configure_for_inference(at::Device device) {
#if defined(SDXLW_WITH_CUDA)
  if (device.is_cuda()) cuda_backend::enable_cudnn_benchmark();
#endif
#if defined(__GLIBC__)
  if (device.is_cpu()) {
    // Large blocks from the heap rather than fresh mappings, none returned to the kernel, and one
    // arena, so a job thread's blocks larger than a secondary arena's 64 MiB heap are kept too.
    constexpr int kLarge = 1 << 30;
    if (mallopt(M_MMAP_THRESHOLD, kLarge) != 1) mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, kLarge);
    mallopt(M_ARENA_MAX, 1);
  }
#endif
}

void release_cached_memory(at::Device device) {
#if defined(SDXLW_WITH_CUDA)
  if (device.is_cuda()) cuda_backend::empty_cache();
#endif
#if defined(__GLIBC__)
  if (device.is_cpu()) malloc_trim(0);
#endif
}

int64_t peak_memory_bytes(at::Device device) {
#if defined(SDXLW_WITH_CUDA)
  if (device.is_cuda()) return cuda_backend::peak_allocated_bytes(cuda_index(device));
#endif
  return -1;
}

void reset_peak_memory(at::Device device) {
#if defined(SDXLW_WITH_CUDA)
  if (device.is_cuda()) cuda_backend::reset_peak(cuda_index(device));
#endif
}

void synchronize(at::Device device) {
#if defined(SDXLW_WITH_CUDA)
  if (device.is_cuda()) cuda_backend::synchronize(cuda_index(device));
#endif
}

Failure classify_failure(const std::exception& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) || dynamic_cast<const std::bad_alloc*>(&e)) {
    return Failure::out_of_memory;
  }
  const std::string message = error_message(e);
  // Allocation failures reported as plain errors: the CPU allocator (1.x), cudaMalloc outside the
  // caching allocator, cuBLAS / cuDNN workspaces.
  static constexpr std::array<std::string_view, 6> kOutOfMemory = {
      "out of memory",         "not enough memory",        "CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED",
      "can't allocate memory", "cudaErrorMemoryAllocation"};
  for (const auto part : kOutOfMemory) {
    if (contains(message, part)) return Failure::out_of_memory;
  }
  static constexpr std::array<std::string_view, 7> kDeviceFault = {
      "CUDA error",  "CUDA driver error",  "CUBLAS_STATUS",        "CUDNN_STATUS",
      "cuDNN error", "device-side assert", "illegal memory access"};
  for (const auto part : kDeviceFault) {
    if (contains(message, part)) return Failure::device_fault;
  }
  return Failure::other;
}

std::string error_message(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

}  // namespace sdxlw::engine
