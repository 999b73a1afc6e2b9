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

// Per-process settings for running the same shapes many times: cuDNN autotuning on CUDA.
// Nothing on CPU.
void configure_for_inference(at::Device device);

// Returns the CUDA caching allocator's unused blocks to the driver (after an out-of-memory error).
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
