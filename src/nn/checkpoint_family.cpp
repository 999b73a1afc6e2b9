#include "nn/checkpoint_family.h"

#include <array>
#include <stdexcept>
#include <vector>

#include "nn/sdxl_config.h"

namespace sdxlw::nn {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

template <class Pred>
bool any_key(const ShapeMap& shapes, Pred pred) {
  for (const auto& kv : shapes) {
    if (pred(kv.first)) return true;
  }
  return false;
}

[[noreturn]] void reject(const std::string& path, const std::string& what) {
  throw std::runtime_error("checkpoint \"" + path + "\" " + what);
}

}  // namespace

bool is_network_key(std::string_view name) {
  for (const char* p : {kUNetPrefix, kTe1Prefix, kTe2Prefix, kVaePrefix}) {
    const std::string_view prefix(p);
    if (starts_with(name, prefix) && name.size() > prefix.size() && name[prefix.size()] == '.') return true;
  }
  return false;
}

bool is_known_unused_key(std::string_view name) {
  static const std::array<std::string_view, 20> exact = {
      "conditioner.embedders.0.transformer.text_model.embeddings.position_ids",
      "conditioner.embedders.0.transformer.text_projection.weight",  // CLIP-L projection, unused by SDXL
      "conditioner.embedders.1.model.logit_scale",
      "ztsnr",
      "denoiser.sigmas",
      "denoiser.log_sigmas",
      "betas",
      "alphas_cumprod",
      "alphas_cumprod_prev",
      "sqrt_alphas_cumprod",
      "sqrt_one_minus_alphas_cumprod",
      "log_one_minus_alphas_cumprod",
      "sqrt_recip_alphas_cumprod",
      "sqrt_recipm1_alphas_cumprod",
      "posterior_variance",
      "posterior_log_variance_clipped",
      "posterior_mean_coef1",
      "posterior_mean_coef2",
      "logvar",
      "lvlb_weights",
  };
  for (auto e : exact) {
    if (name == e) return true;
  }
  return starts_with(name, "model_ema.");
}

void check_sdxl_base_family(const ShapeMap& shapes, const std::string& path) {
  if (shapes.empty()) reject(path, "contains no tensors");

  if (any_key(shapes, [](const std::string& k) {
        return starts_with(k, "lora_unet_") || starts_with(k, "lora_te_") || starts_with(k, "lora_te1_") ||
               starts_with(k, "lora_te2_") || contains(k, ".lora_down.") || contains(k, ".lora_up.") ||
               contains(k, ".lora_A.") || contains(k, ".lora_B.") || contains(k, ".hada_w1_") ||
               contains(k, ".lokr_w1");
      })) {
    reject(path, "is a LoRA (it has lora_* / lora_down / lora_up tensors), not a checkpoint: list it under "
                 "\"loras\" in models.json and name an SDXL base checkpoint as \"checkpoint\"");
  }
  if (shapes.count("v_pred")) {
    reject(path, "is a v-prediction model (it has the v_pred marker tensor): v-prediction checkpoints are not "
                 "supported; use an epsilon-prediction SDXL base checkpoint");
  }
  if (any_key(shapes, [](const std::string& k) { return starts_with(k, "edm_vpred."); })) {
    reject(path, "is an EDM v-prediction model such as CosXL (it has edm_vpred.* tensors): not supported; use an "
                 "epsilon-prediction SDXL base checkpoint");
  }
  if (any_key(shapes, [](const std::string& k) { return starts_with(k, "edm_"); })) {
    reject(path, "is an EDM model such as Playground v2.5 (it has edm_* tensors): not supported; use an "
                 "epsilon-prediction SDXL base checkpoint");
  }
  if (any_key(shapes, [](const std::string& k) { return starts_with(k, "cond_stage_model."); })) {
    const bool sd2 = any_key(shapes, [](const std::string& k) { return starts_with(k, "cond_stage_model.model."); });
    reject(path, std::string("appears to be a Stable Diffusion ") + (sd2 ? "2.x" : "1.x") +
                     " checkpoint (its text encoder is under cond_stage_model.*), not SDXL: this worker needs "
                     "an SDXL base checkpoint");
  }
  const bool has_unet = any_key(shapes, [](const std::string& k) { return starts_with(k, "model.diffusion_model."); });
  const bool has_te1 = any_key(shapes, [](const std::string& k) { return starts_with(k, std::string(kTe1Prefix) + "."); });
  const bool has_te2 = any_key(shapes, [](const std::string& k) { return starts_with(k, std::string(kTe2Prefix) + "."); });
  const bool has_vae = any_key(shapes, [](const std::string& k) { return starts_with(k, std::string(kVaePrefix) + "."); });
  const bool refiner_te = any_key(shapes, [](const std::string& k) { return starts_with(k, "conditioner.embedders.0.model."); });
  const auto adm = shapes.find("model.diffusion_model.label_emb.0.0.weight");
  if (refiner_te || (!has_te1 && adm != shapes.end() && adm->second.size() == 2 && adm->second[1] == 2560)) {
    reject(path, "appears to be an SDXL refiner checkpoint (OpenCLIP bigG is its only text encoder, no CLIP-L; "
                 "refiner UNets take a 2560-wide label_emb input): this worker needs an SDXL base checkpoint");
  }
  if (!has_unet) {
    if (shapes.count("input_blocks.0.0.weight") || shapes.count("diffusion_model.input_blocks.0.0.weight")) {
      reject(path, "appears to be a bare UNet state dict (input_blocks.* without the model.diffusion_model. "
                   "prefix and without text encoders or VAE): use a single-file SDXL checkpoint that contains "
                   "all four networks");
    }
    if (any_key(shapes, [](const std::string& k) {
          return starts_with(k, "down_blocks.") || starts_with(k, "unet.") || starts_with(k, "mid_block.") ||
                 starts_with(k, "add_embedding.");
        })) {
      reject(path, "appears to be a diffusers-format UNet (down_blocks.* / mid_block.* names): use a "
                   "single-file SDXL checkpoint with sgm/ldm names (model.diffusion_model.*)");
    }
    if (shapes.count("encoder.conv_in.weight") || shapes.count("decoder.conv_in.weight")) {
      reject(path, "appears to be a standalone VAE (encoder.* / decoder.*), not a checkpoint: use a single-file "
                   "SDXL checkpoint");
    }
    if (any_key(shapes, [](const std::string& k) { return starts_with(k, "text_model."); })) {
      reject(path, "appears to be a standalone CLIP text encoder, not a checkpoint: use a single-file SDXL "
                   "checkpoint");
    }
    reject(path, "contains no SDXL UNet (no model.diffusion_model.* tensors): it is not a Stable Diffusion "
                 "checkpoint this worker can run");
  }
  std::vector<std::string> missing;
  if (!has_te1) missing.push_back("the CLIP-L text encoder (" + std::string(kTe1Prefix) + ".*)");
  if (!has_te2) missing.push_back("the OpenCLIP bigG text encoder (" + std::string(kTe2Prefix) + ".*)");
  if (!has_vae) missing.push_back("the VAE (" + std::string(kVaePrefix) + ".*)");
  if (missing.size() == 3) {
    reject(path, "contains only a UNet (model.diffusion_model.*): it has no text encoders "
                 "(conditioner.embedders.*) and no VAE (first_stage_model.*); use a full single-file SDXL "
                 "checkpoint");
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size(); ++i) list += (i ? " and " : "") + missing[i];
    reject(path, "is missing " + list + ": use a full single-file SDXL checkpoint");
  }
  const auto conv_in = shapes.find("model.diffusion_model.input_blocks.0.0.weight");
  if (conv_in != shapes.end() && conv_in->second.size() == 4) {
    const int64_t in = conv_in->second[1];
    if (in == 9) {
      reject(path, "is an inpainting model (its UNet takes 9 input channels): inpainting checkpoints are not "
                   "supported; use an SDXL base checkpoint");
    }
    if (in == 8) {
      reject(path, "is an instruct-pix2pix style model (its UNet takes 8 input channels): not supported; use an "
                   "SDXL base checkpoint");
    }
  }
}

}  // namespace sdxlw::nn
