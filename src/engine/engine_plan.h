#pragma once
// Where and in which precision each network runs, resolved from the user's EngineOptions.

#include <ATen/ATen.h>

#include <string>

#include "core/engine_factory.h"
#include "nn/sdxl_model.h"

namespace sdxlw::engine {

struct EnginePlan {
  at::Device device = at::kCPU;
  at::ScalarType text_dtype = at::kFloat;
  at::ScalarType unet_dtype = at::kFloat;
  at::ScalarType vae_dtype = at::kFloat;
  int threads = 1;             // CPU intra-op threads
  bool channels_last = false;  // UNet and VAE convolutions in NHWC (CUDA; CPU with oneDNN)

  // "cpu: text fp32, unet fp32, vae fp32, 2 threads"
  std::string describe() const;
  // How the networks' weights are loaded (or randomly initialised) for this plan.
  nn::LoadOptions load_options() const;
};

// What the machine offers, for resolve_plan.
struct MachineInfo {
  bool cuda = false;
  bool cuda_bf16 = false;  // the GPU computes bfloat16 natively
  unsigned cores = 1;
  bool onednn = false;  // libtorch's CPU convolutions go through oneDNN (mkldnn)
};
MachineInfo probe_machine();

// device auto → cuda when available, else cpu. dtype auto → fp16 text encoders + UNet on CUDA
// with the VAE in bf16 where supported, else fp32 (the SDXL VAE overflows in fp16); fp32 on CPU.
// bf16 on CPU → text encoders + UNet bf16, VAE fp32. threads 0 → every core.
// Throws std::invalid_argument naming the option for unknown names, cuda without a GPU, fp16 on
// CPU, bf16 on a GPU without it, and negative thread counts.
EnginePlan resolve_plan(const EngineOptions& options, const MachineInfo& machine);

const char* dtype_name(at::ScalarType type);  // "fp32", "fp16", "bf16"

}  // namespace sdxlw::engine
