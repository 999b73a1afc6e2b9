#pragma once
// The engine's only window onto CUDA: availability, the caching allocator, cuDNN settings and
// the classification of failures. The rest of the engine is device-agnostic; the CUDA-only half
// (device_cuda.cpp) is compiled only against a CUDA libtorch (SDXLW_WITH_CUDA).

#include <ATen/ATen.h>

#include <cstdint>
#include <exception>
#include <string>

namespace sdxlw::engine {

// A CUDA libtorch with at least one visible GPU.
bool cuda_available();

// "cpu" or e.g. "cuda:0 (NVIDIA H100 80GB HBM3, 79.1 GiB, compute 9.0)".
std::string describe_device(at::Device device);

// bfloat16 is native on the device: CUDA compute capability ≥ 8.0; always on CPU.
bool supports_bf16(at::Device device);

// The CPU runs bfloat16 in oneDNN's vector kernels (x86 AVX-512 BW/VL/DQ, natively with
// AVX512_BF16); elsewhere libtorch falls back to generic code, slower than float32.
bool cpu_has_fast_bf16();

// Per-process settings for running the same shapes many times: cuDNN autotuning on CUDA. On CPU
// (glibc), freed memory stays with the process instead of going back to the kernel: every UNet
// step frees and allocates again hundreds of MB of activations, which would otherwise be
// page-faulted in anew each step (~29 000 faults, 2–3% of a 512² bf16 step on a 2-core VM).
// Resident memory then stays at its high-water mark.
void configure_for_inference(at::Device device);

// Returns memory held but unused to the system: the CUDA caching allocator's free blocks to the
// driver (after an out-of-memory error), on CPU the heap's free pages (glibc malloc_trim: after
// loading, whose temporaries configure_for_inference would otherwise keep resident).
void release_cached_memory(at::Device device);

// CUDA allocator peak of allocated bytes since the last reset_peak_memory; -1 on CPU.
int64_t peak_memory_bytes(at::Device device);
void reset_peak_memory(at::Device device);

// Waits for the device's queued work (timings); nothing on CPU.
void synchronize(at::Device device);

enum class Failure {
  other,
  out_of_memory,  // an allocation failed; the job can be retried smaller
  device_fault,   // a CUDA / cuBLAS / cuDNN error: the process's CUDA context may be unusable
};

// What kind of failure an exception thrown by a tensor operation reports.
Failure classify_failure(const std::exception& e);
inline bool is_out_of_memory(const std::exception& e) { return classify_failure(e) == Failure::out_of_memory; }

// e.what() without the C++ stack trace libtorch appends to c10::Error messages.
std::string error_message(const std::exception& e);

}  // namespace sdxlw::engine
