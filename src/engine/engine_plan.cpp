#include "engine/engine_plan.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <thread>

#include "engine/device.h"

namespace sdxlw::engine {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

at::Device resolve_device(const std::string& name, const MachineInfo& machine) {
  const std::string d = lower(name);
  if (d == "auto" || d.empty()) return machine.cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  if (d == "cpu") return at::kCPU;
  if (d == "cuda" || d.rfind("cuda:", 0) == 0) {
    if (!machine.cuda) {
      throw std::invalid_argument("device \"" + name +
                                  "\" was requested but no CUDA GPU is usable here (a CPU-only libtorch, "
                                  "no GPU visible, or no driver); use --device cpu");
    }
    if (d == "cuda") return at::Device(at::kCUDA, 0);
    const std::string index = d.substr(5);
    const auto digit = [](unsigned char c) { return std::isdigit(c) != 0; };
    if (index.empty() || index.size() > 2 || !std::all_of(index.begin(), index.end(), digit)) {
      throw std::invalid_argument("device \"" + name + "\" is not valid (expected cpu, cuda or cuda:N)");
    }
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(std::stoi(index)));
  }
  throw std::invalid_argument("device \"" + name + "\" is unknown (known: auto, cpu, cuda, cuda:N)");
}

}  // namespace

const char* dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return "fp32";
    case at::kHalf:
      return "fp16";
    case at::kBFloat16:
      return "bf16";
    default:
      return c10::toString(type);
  }
}

nn::LoadOptions EnginePlan::load_options() const {
  nn::LoadOptions load;
  load.device = device;
  load.text_dtype = text_dtype;
  load.unet_dtype = unet_dtype;
  load.vae_dtype = vae_dtype;
  load.channels_last = channels_last;
  return load;
}

std::string EnginePlan::describe() const {
  std::string out = device.str() + ": text " + dtype_name(text_dtype) + ", unet " + dtype_name(unet_dtype) + ", vae " +
                    dtype_name(vae_dtype);
  if (device.is_cpu()) out += ", " + std::to_string(threads) + (threads == 1 ? " thread" : " threads");
  if (channels_last) out += ", channels-last";
  return out;
}

MachineInfo probe_machine() {
  MachineInfo m;
  m.cuda = cuda_available();
  m.cuda_bf16 = m.cuda && supports_bf16(at::Device(at::kCUDA, 0));
  m.cores = std::max(1u, std::thread::hardware_concurrency());
  m.onednn = at::hasMKLDNN();
  return m;
}

EnginePlan resolve_plan(const EngineOptions& options, const MachineInfo& machine) {
  EnginePlan plan;
  plan.device = resolve_device(options.device, machine);
  const bool cuda = plan.device.is_cuda();
  const bool bf16_ok = cuda ? machine.cuda_bf16 : true;

  const std::string dtype = lower(options.dtype);
  if (dtype == "auto" || dtype.empty()) {
    plan.text_dtype = plan.unet_dtype = cuda ? at::kHalf : at::kFloat;
    plan.vae_dtype = cuda && bf16_ok ? at::kBFloat16 : at::kFloat;
  } else if (dtype == "fp32" || dtype == "float32") {
    plan.text_dtype = plan.unet_dtype = plan.vae_dtype = at::kFloat;
  } else if (dtype == "fp16" || dtype == "float16") {
    if (!cuda) {
      throw std::invalid_argument("dtype \"" + options.dtype +
                                  "\" needs a CUDA GPU: CPU convolutions have no float16 kernels; use fp32 "
                                  "or bf16 on CPU");
    }
    plan.text_dtype = plan.unet_dtype = at::kHalf;
    plan.vae_dtype = bf16_ok ? at::kBFloat16 : at::kFloat;
  } else if (dtype == "bf16" || dtype == "bfloat16") {
    if (!bf16_ok) {
      throw std::invalid_argument("dtype \"" + options.dtype +
                                  "\" needs a GPU with compute capability 8.0 or newer; use fp16 or fp32");
    }
    plan.text_dtype = plan.unet_dtype = at::kBFloat16;
    // The CPU VAE loses precision in bf16 (fixtures README §5); on a GPU it is fine one image at a time.
    plan.vae_dtype = cuda ? at::kBFloat16 : at::kFloat;
  } else {
    throw std::invalid_argument("dtype \"" + options.dtype + "\" is unknown (known: auto, fp32, fp16, bf16)");
  }

  if (options.threads < 0) {
    throw std::invalid_argument("threads must be 0 (every core) or positive, got " + std::to_string(options.threads));
  }
  plan.threads = options.threads > 0 ? options.threads : static_cast<int>(machine.cores);
  // NHWC: cuDNN's tensor-core kernels on CUDA; on CPU oneDNN's fastest convolutions, which also
  // make the transformer blocks' NCHW → tokens reshapes free.
  plan.channels_last = cuda || machine.onednn;
  return plan;
}

}  // namespace sdxlw::engine
