#pragma once
// The torch engine behind core/engine_factory.h: a Pipeline wrapped as an ImageGenerator, with
// the per-process set-up (threads, cuDNN) and the GPU warm-up. create_engine is defined here.

#include <memory>
#include <string>

#include "core/engine_factory.h"
#include "core/generation.h"
#include "engine/pipeline.h"

namespace sdxlw::engine {

class SdxlEngine : public ImageGenerator {
 public:
  explicit SdxlEngine(std::unique_ptr<Pipeline> pipeline);

  GenerationResult generate(const GenerationRequest& request, const ProgressCallback& progress) override;
  std::string model_name() const override { return pipeline_->model_name(); }

  // A 256×256, one-step generation, so the first job does not pay for CUDA kernel loading and
  // cuDNN autotuning of the small shapes.
  void warm_up();

  Pipeline& pipeline() { return *pipeline_; }

 private:
  std::unique_ptr<Pipeline> pipeline_;
};

// create_engine with the pipeline's own options (a tokenizer path, tile sizes) for tests and
// tools. Sets the intra-op thread count (a process-wide setting) and logs it.
std::unique_ptr<SdxlEngine> create_sdxl_engine(const ModelFiles& files, const EngineOptions& options,
                                               PipelineOptions pipeline_options);

}  // namespace sdxlw::engine
