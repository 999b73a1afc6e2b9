#pragma once
// A whole SDXL checkpoint as four module trees whose parameter names are the file's keys, and
// the strict loader that fills them straight from the memory-mapped safetensors file.

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "nn/clip_text.h"
#include "nn/module.h"
#include "nn/sdxl_config.h"
#include "nn/shape_map.h"
#include "nn/unet.h"
#include "nn/vae.h"

namespace sdxlw::nn {

struct LoadOptions {
  at::Device device = at::kCPU;
  at::ScalarType text_dtype = at::kFloat;
  at::ScalarType unet_dtype = at::kFloat;
  at::ScalarType vae_dtype = at::kFloat;
  // On CPU, a tensor whose file dtype already is the target dtype may stay a view of the file's
  // private (copy-on-write) mapping instead of being copied; in-place changes (LoRA merges) never
  // reach the file. Misaligned tensors are always copied.
  bool keep_mapped_views = true;
  // The UNet's and the VAE's 4-D weights (convolutions) in the channels-last (NHWC) layout, written
  // that way while converting instead of being copied again afterwards.
  bool channels_last = false;
};

struct SdxlModel {
  SdxlConfig config;
  std::unique_ptr<ClipTextModel> te1;
  std::unique_ptr<OpenClipTextModel> te2;
  std::unique_ptr<UNetModel> unet;
  std::unique_ptr<VaeModel> vae;

  // Every parameter of the four networks under its full checkpoint key
  // ("model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight", ...), in the
  // order te1, te2, unet, vae. Slots are undefined until loaded or initialised.
  std::vector<ParamSlot> parameters() const;
};

// Detects the configuration from the shapes and builds the four trees. Allocates no tensor.
// Logs one line per network. Throws std::runtime_error when the shapes do not describe SDXL.
SdxlModel build_sdxl_model(const ShapeMap& shapes);
SdxlModel build_sdxl_model(const SdxlConfig& config);

// Opens a single-file SDXL checkpoint, rejects other families with a message saying what the file
// is (check_sdxl_base_family), builds the trees, compares every expected name and shape with the
// file before allocating anything (one error listing every missing, unexpected and mis-shaped
// tensor) and fills every parameter converted to its network's dtype on `options.device`.
SdxlModel load_sdxl_checkpoint(const std::string& path, const LoadOptions& options);

// Throws std::runtime_error naming `path` and listing (up to 20 per kind) the tensors the model
// expects but the file lacks, the file's tensors the model does not use (beyond the known unused
// ones), those whose shape differs and those that are not floating point.
void check_checkpoint_tensors(const SdxlModel& model, const ShapeMap& file_shapes, const std::string& path,
                              const std::map<std::string, DType>& file_dtypes = {});

// Fills every parameter with random values for benchmarks: weights N(0,1)/√fan_in, norm weights 1,
// biases 0.02·N(0,1), drawn on options.device from a generator seeded with `seed`.
void init_random(SdxlModel& model, const LoadOptions& options, uint64_t seed);

}  // namespace sdxlw::nn
