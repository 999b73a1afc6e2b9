#pragma once
// Shared by the engine tests: the tiny fixture model loaded once (CPU float32, lora_a available
// as the models.json default), fixture jobs as GenerationRequests, and process CPU time.

#include <ATen/ATen.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/engine_factory.h"
#include "core/generation.h"
#include "core/model_files.h"
#include "engine/sdxl_engine.h"
#include "support/paths.h"

namespace sdxlw::test {

inline std::string vocab_path() { return (source_dir() / "assets/bpe_simple_vocab_16e6.txt.gz").string(); }

// models.json of tests/fixtures: tiny_a plus lora_a at its default scale 1.0.
inline ModelFiles tiny_model_files() {
  ModelFiles files;
  files.checkpoint_name = "tiny_a";
  files.checkpoint_path = tiny_checkpoint().string();
  files.loras.push_back({"lora_a", fixture("lora_a.safetensors").string(), 1.0});
  return files;
}

inline engine::PipelineOptions test_pipeline_options() {
  engine::PipelineOptions options;
  options.vocab_path = vocab_path();
  return options;
}

// One engine for the whole test binary: CPU, float32, every core, no warm-up.
inline engine::SdxlEngine& shared_engine() {
  static const std::unique_ptr<engine::SdxlEngine> engine = [] {
    EngineOptions options;
    options.device = "cpu";
    options.dtype = "fp32";
    options.warmup = false;
    return engine::create_sdxl_engine(tiny_model_files(), options, test_pipeline_options());
  }();
  return *engine;
}

// A fixture job's "input" (every field present) as the job layer would hand it over.
inline GenerationRequest request_from_job(const nlohmann::json& input) {
  GenerationRequest r;
  r.prompt = input.at("prompt").get<std::string>();
  r.negative_prompt = input.value("negative_prompt", std::string());
  r.width = input.at("width").get<int>();
  r.height = input.at("height").get<int>();
  r.steps = input.at("num_inference_steps").get<int>();
  r.guidance_scale = input.at("guidance_scale").get<double>();
  r.scheduler = input.at("scheduler").get<std::string>();
  r.seed = input.at("seed").get<uint64_t>();
  r.num_images = input.at("num_images").get<int>();
  std::vector<LoraChoice> loras;
  for (const auto& l : input.at("loras"))
    loras.push_back({l.at("name").get<std::string>(), l.at("scale").get<double>()});
  r.loras = loras;
  return r;
}

inline double process_cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

inline double max_abs(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) return INFINITY;
  return (a.to(at::kDouble).cpu() - b.to(at::kDouble).cpu()).abs().max().item<double>();
}

}  // namespace sdxlw::test
