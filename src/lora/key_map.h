#pragma once
// Which weight of the loaded model a LoRA module name refers to.
//
// The map is built forward from the model's own parameter names (the single-file checkpoint keys),
// so no LoRA name is ever parsed at its underscores. Every Linear / conv weight of the UNet and the
// two text encoders gets the names LoRA trainers give it, e.g. for one UNet weight:
//   kohya, sgm names:       lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q
//   kohya, diffusers names: lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q
//   PEFT / diffusers:       unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q
// and for the text encoders (HF CLIPTextModel names, also for OpenCLIP bigG):
//   lora_te1_text_model_encoder_layers_0_self_attn_q_proj, text_encoder.text_model.encoder...,
//   lora_te2_text_model_encoder_layers_0_self_attn_q_proj, text_encoder_2.text_model.encoder...
// bigG's q/k/v projections are row slices [0:W], [W:2W], [2W:3W] of its fused in_proj_weight.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace sdxlw::lora {

// One weight (or a row slice of one) that a LoRA module can change.
struct Target {
  std::string name;  // the kohya module name (sgm UNet names), e.g. "lora_te2_..._q_proj"
  size_t slot = 0;   // index into the model's parameter list
  int64_t row_begin = 0;
  int64_t rows = -1;           // -1: the whole weight; else a slice of `rows` rows
  std::vector<int64_t> shape;  // of the weight, or of the slice

  bool whole() const { return rows < 0; }
};

class KeyMap {
 public:
  // `params` is the whole model (checkpoint keys); weights outside the UNet
  // ("model.diffusion_model.") and the text encoders ("conditioner.embedders.{0,1}.") are ignored.
  explicit KeyMap(const std::vector<nn::ParamSlot>& params);

  // The target of a module name in any of the accepted namings; nullptr when none.
  const Target* find(std::string_view module_name) const;
  // Every target once, in parameter order (q, k, v for a fused in_proj).
  const std::vector<Target>& targets() const { return targets_; }
  size_t alias_count() const { return index_.size(); }

 private:
  void add(Target target, const std::vector<std::string>& aliases);
  std::vector<Target> targets_;
  std::unordered_map<std::string, size_t> index_;
};

// Translates sgm/ldm UNet module paths to diffusers ones ("input_blocks.4.1.proj_in" →
// "down_blocks.1.attentions.0.proj_in"). The block layout (res blocks per level, where the
// downsamplers are) is read from the model's own parameter names, so any SDXL-shaped UNet works.
class UnetLayout {
 public:
  // `paths`: every UNet parameter name without the "model.diffusion_model." prefix.
  explicit UnetLayout(const std::vector<std::string>& paths);
  // The diffusers path of a module path (no ".weight"); "" when it has no counterpart.
  std::string diffusers_path(std::string_view ldm_module) const;

 private:
  std::unordered_map<int, std::pair<int, int>>
      input_position_;  // block -> (level, index; -1 = downsampler)
  int output_blocks_per_level_ = 0;
};

}  // namespace sdxlw::lora
