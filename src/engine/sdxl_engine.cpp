#include "engine/sdxl_engine.h"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "engine/device.h"
#include "engine/engine_plan.h"
#include "io/safetensors.h"
#include "util/process_info.h"

namespace sdxlw {

namespace engine {

namespace {

std::string load_failure(const ModelFiles& files, const EnginePlan& plan, const std::exception& e) {
  const std::string prefix = "cannot load model \"" + files.checkpoint_name + "\": ";
  std::error_code ec;
  if (!std::filesystem::exists(files.checkpoint_path, ec)) {
    return prefix + "the checkpoint file \"" + files.checkpoint_path +
           "\" does not exist; check --models-dir (or MODELS_DIR) and models.json, or run with --download-only "
           "first";
  }
  if (is_out_of_memory(e)) {
    return prefix + std::string(plan.device.is_cuda() ? "out of GPU memory" : "out of memory") +
           " while loading the weights (" + plan.describe() + "); use a GPU with more memory or a smaller dtype";
  }
  std::string message = prefix + error_message(e);
  if (dynamic_cast<const SafetensorsError*>(&e)) {
    message +=
        "; delete the file so that it is downloaded again, or point models.json at a complete SDXL "
        ".safetensors checkpoint";
  }
  return message;
}

}  // namespace

SdxlEngine::SdxlEngine(std::unique_ptr<Pipeline> pipeline) : pipeline_(std::move(pipeline)) {}

GenerationResult SdxlEngine::generate(const GenerationRequest& request, const ProgressCallback& progress) {
  return pipeline_->generate(request, progress);
}

void SdxlEngine::warm_up() {
  GenerationRequest request;
  request.prompt = "a warm-up image";
  request.negative_prompt = "blurry";
  request.width = request.height = static_cast<int>(std::max<int64_t>(256, pipeline_->size_multiple()));
  request.steps = 1;
  request.guidance_scale = 5.0;
  request.scheduler = "euler";
  request.num_images = 1;
  const auto start = std::chrono::steady_clock::now();
  pipeline_->generate(request, nullptr);
  spdlog::info("engine: warm-up generation done in {:.2f} s",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

std::unique_ptr<SdxlEngine> create_sdxl_engine(const ModelFiles& files, const EngineOptions& options,
                                               PipelineOptions pipeline_options) {
  const EnginePlan plan = resolve_plan(options, probe_machine());
  pipeline_options.plan = plan;
  pipeline_options.initial_loras = options.initial_loras;
  at::set_num_threads(plan.threads);
  spdlog::info("engine: {} intra-op CPU thread{} ({})", at::get_num_threads(), at::get_num_threads() == 1 ? "" : "s",
               options.threads > 0 ? "--threads" : "every core");
  configure_for_inference(plan.device);
  if (plan.device.is_cpu() && plan.unet_dtype == at::kBFloat16 && !cpu_has_fast_bf16()) {
    spdlog::warn("engine: this CPU lacks AVX-512 (BW/VL/DQ), so bf16 runs in generic kernels and is likely slower "
                 "than fp32; consider --dtype fp32");
  }

  std::unique_ptr<Pipeline> pipeline;
  try {
    pipeline = std::make_unique<Pipeline>(files, pipeline_options);
  } catch (const std::exception& e) {
    throw std::runtime_error(load_failure(files, plan, e));
  }
  auto engine = std::make_unique<SdxlEngine>(std::move(pipeline));
  const auto warmup_start = std::chrono::steady_clock::now();
  const bool warm = options.warmup && plan.device.is_cuda();
  if (warm) engine->warm_up();
  const double warmup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - warmup_start).count();
  const LoadTimings& t = engine->pipeline().load_timings();
  const ProcessMemory memory = process_memory();
  spdlog::info("engine: ready to take jobs {:.2f} s after process start: checkpoint {:.2f} s, LoRA merge {:.2f} s, "
               "warm-up {}; RSS {} (peak {})",
               process_age_seconds(), t.checkpoint_s, t.lora_s, warm ? fmt::format("{:.2f} s", warmup_s) : "none",
               format_bytes(memory.rss_bytes), format_bytes(memory.peak_rss_bytes));
  return engine;
}

}  // namespace engine

std::unique_ptr<ImageGenerator> create_engine(const ModelFiles& files, const EngineOptions& options) {
  return engine::create_sdxl_engine(files, options, engine::PipelineOptions{});
}

}  // namespace sdxlw
