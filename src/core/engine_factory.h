#pragma once
// Creates the torch engine behind a torch-free interface, so the app and the job layer never
// include torch headers. Defined in src/engine/.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/generation.h"
#include "core/model_files.h"

namespace sdxlw {

struct EngineOptions {
  std::string device = "auto";  // auto | cpu | cuda
  std::string dtype = "auto";   // auto | fp32 | bf16 | fp16 (auto: fp16 on CUDA, fp32 on CPU)
  int threads = 0;              // CPU intra-op threads; 0 = every core
  bool warmup = true;           // run a small generation before taking jobs (GPU)
  // The LoRA set merged at start-up; nullopt = the models.json default set. Local mode passes its
  // one job's set so the weights are merged once.
  std::optional<std::vector<LoraChoice>> initial_loras;
};

std::unique_ptr<ImageGenerator> create_engine(const ModelFiles& files, const EngineOptions& options);

}  // namespace sdxlw
