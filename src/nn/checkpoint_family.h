#pragma once
// Is this file an SDXL base checkpoint with all four networks? If not, say what it appears to be.

#include <string>
#include <string_view>

#include "nn/shape_map.h"

namespace sdxlw::nn {

// Throws std::runtime_error naming `path`, what the file appears to be (a LoRA, an SD 1.x/2.x or
// SDXL refiner checkpoint, a UNet without text encoders or VAE, an inpainting or v-prediction
// model, ...) and what to use instead. Returns when the keys look like an SDXL base checkpoint.
void check_sdxl_base_family(const ShapeMap& shapes, const std::string& path);

// Keys that single-file checkpoints may carry but inference does not use (position_ids,
// logit_scale, EMA copies, the DDPM schedule buffers, ztsnr, denoiser.sigmas, ...).
bool is_known_unused_key(std::string_view name);

// True for names under the four network prefixes (model.diffusion_model., conditioner.embedders.0.
// transformer.text_model., conditioner.embedders.1.model., first_stage_model.).
bool is_network_key(std::string_view name);

}  // namespace sdxlw::nn
