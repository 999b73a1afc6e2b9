#pragma once
// CUDA-only helpers behind engine/device.h, defined in device_cuda.cpp, which is compiled only
// against a CUDA libtorch. Torch-free declarations so device.cpp builds everywhere.

#include <cstdint>
#include <string>

namespace sdxlw::engine::cuda_backend {

std::string describe(int index);
bool supports_bf16(int index);
void enable_cudnn_benchmark();
void empty_cache();
int64_t peak_allocated_bytes(int index);
void reset_peak(int index);
void synchronize(int index);

}  // namespace sdxlw::engine::cuda_backend
