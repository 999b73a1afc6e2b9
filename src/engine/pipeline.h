#pragma once
// One loaded SDXL model turning GenerationRequests into PNGs, exactly as the diffusers SDXL
// pipeline with a CPU generator (DESIGN §4, tests/fixtures/README.md §2):
// tokenize → text encoders → CPU-seeded latents → scheduler loop (UNet + CFG) → VAE → PNG.

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>

#include "core/generation.h"
#include "core/model_files.h"
#include "engine/engine_plan.h"
#include "engine/text_conditioning.h"
#include "engine/tiled_decode.h"
#include "lora/lora_set.h"
#include "nn/sdxl_model.h"
#include "text/clip_tokenizer.h"

namespace sdxlw::engine {

// Where a Pipeline's construction spent its time, for the start-up report.
struct LoadTimings {
  double checkpoint_s = 0;  // reading and converting the weights (built in memory: their layout change)
  double lora_s = 0;        // merging the default LoRA set
};

struct PipelineOptions {
  EnginePlan plan;
  std::string vocab_path;  // "" = find_asset("bpe_simple_vocab_16e6.txt.gz")
  std::optional<std::vector<LoraChoice>> initial_loras;  // merged at load; nullopt = defaults
  TileOptions tiles;
};

// Observers of one generate() call, for tests and benchmarks; each may be empty. They run on the
// generating thread and must not keep the tensors beyond the call unless they copy them.
struct PipelineHooks {
  std::function<void(const TextConditioning&)> on_text;
  // After each UNet call: the scaled model input ([2N, 4, h, w], uncond half first, with CFG;
  // [N, 4, h, w] without) and the raw model output of the same shape, float32.
  std::function<void(int step, const at::Tensor& model_input, const at::Tensor& model_output)> on_unet;
  std::function<void(const at::Tensor& latents)> on_latents;  // final latents, float32 [N, 4, h, w]
  std::function<void(const at::Tensor& image)> on_decoded;    // raw VAE output, float32 [N, 3, H, W]
};

class Pipeline {
 public:
  // Loads the checkpoint once in the plan's devices and dtypes and merges the models.json default
  // LoRA set. Throws std::runtime_error naming the file and the problem.
  Pipeline(const ModelFiles& files, const PipelineOptions& options);
  // A model already built and filled in the plan's devices and dtypes (benchmarks: a random
  // full-size SDXL), with no LoRAs.
  Pipeline(nn::SdxlModel model, std::string model_name, const PipelineOptions& options);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Runs one job (calls must not overlap). Throws InvalidRequest for a request this model cannot
  // run, std::runtime_error for a failed job (an out-of-memory error says what ran out and what to
  // try; the GPU cache is freed first), EngineUnusable when the device itself failed.
  GenerationResult generate(const GenerationRequest& request, const ProgressCallback& progress,
                            const PipelineHooks& hooks = {});

  // Throws InvalidRequest listing every problem of `request` for this model.
  void validate(const GenerationRequest& request) const;

  const nn::SdxlModel& model() const { return model_; }
  const EnginePlan& plan() const { return options_.plan; }
  const LoadTimings& load_timings() const { return load_timings_; }
  const std::string& model_name() const { return files_.checkpoint_name; }
  lora::LoraSet& loras() { return *loras_; }
  // Image pixels per side must be a multiple of this (VAE factor × UNet downsampling).
  int64_t size_multiple() const;

 private:
  at::Tensor denoise(const GenerationRequest& request, const TextConditioning& text, const ProgressCallback& progress,
                     const PipelineHooks& hooks);
  int64_t latent_factor() const;
  // Channels-last weights where the plan asks for them, the LoRA set with its defaults merged.
  void prepare();

  ModelFiles files_;
  PipelineOptions options_;
  ClipTokenizer tokenizer_;
  nn::SdxlModel model_;
  std::unique_ptr<lora::LoraSet> loras_;
  LoadTimings load_timings_;
};

}  // namespace sdxlw::engine
