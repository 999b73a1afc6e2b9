#pragma once
// The LoRAs merged into a loaded model, switched per request.
//
// Every LoRA of models.json is known by name; a request names the set it wants (or takes the
// models.json defaults). apply() makes every weight equal base + Σ scale·ΔW over that set, in
// the set's order, computed in float32 on the weight's device and written back in the weight's
// dtype. A weight is touched only when its list of contributions changes; before the first
// change a copy of its base value is kept, and every re-merge starts from that copy, so
// switching A → B → A gives weights bit-identical to merging A once, and scale 0 leaves a
// weight bit-identical to the checkpoint.

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/generation.h"
#include "core/model_files.h"
#include "lora/adapter.h"
#include "lora/key_map.h"
#include "nn/module.h"

namespace sdxlw::lora {

struct ApplyStats {
  int weights_changed = 0;  // weights re-merged by the last apply()
  double load_ms = 0;       // opening + checking LoRA files not seen before
  double merge_ms = 0;      // restoring + merging the changed weights
};

class LoraSet {
 public:
  // `model_params`: the whole model's parameters under their checkpoint keys; the tensors must
  // stay alive (and at the same addresses) as long as this object, already on their final
  // device and dtype (base copies are taken from them at the first merge). `available`: every LoRA
  // of models.json, whose scales form the default set. Nothing is read or merged yet.
  LoraSet(std::vector<nn::ParamSlot> model_params, std::vector<LoraFile> available);
  ~LoraSet();
  LoraSet(const LoraSet&) = delete;
  LoraSet& operator=(const LoraSet&) = delete;

  // Makes the weights carry exactly `choice` (in its order; [] = none), touching only weights
  // whose contributions changed. Throws InvalidRequest for unknown or repeated names and
  // non-finite scales (the message lists the known names), std::runtime_error naming the LoRA
  // and its file for unreadable / corrupt files, files whose keys match no weight of this
  // model, and files for another architecture (SD1.x, SD2.x, ...). On any error the weights
  // are left exactly as they were. If restoring them fails too, throws EngineUnusable.
  std::vector<AppliedLora> apply(const std::vector<LoraChoice>& choice);
  // nullopt = the default set (a GenerationRequest's `loras`).
  std::vector<AppliedLora> apply(const std::optional<std::vector<LoraChoice>>& choice);

  // models.json's LoRAs at their default scales, in models.json order.
  std::vector<LoraChoice> default_choice() const;
  // The set the weights carry now.
  const std::vector<AppliedLora>& applied() const { return applied_; }
  const ApplyStats& last_stats() const { return stats_; }
  const KeyMap& key_map() const { return key_map_; }
  // Bytes held by kept base copies.
  int64_t base_copy_bytes() const;

 private:
  struct Loaded;  // one parsed LoRA file with its module → target map
  struct Contribution {
    const Loaded* lora = nullptr;
    size_t merge = 0;  // index into lora->merges
    double scale = 0;
    bool operator==(const Contribution& o) const {
      return lora == o.lora && merge == o.merge && scale == o.scale;
    }
  };

  const Loaded& load(const LoraFile& file);
  void remerge(size_t slot, const std::vector<Contribution>& contributions);

  std::vector<nn::ParamSlot> params_;
  std::vector<LoraFile> available_;
  KeyMap key_map_;
  std::map<std::string, std::unique_ptr<Loaded>> loaded_;  // by LoRA name
  std::map<size_t, at::Tensor> base_;                      // slot -> its checkpoint value
  std::map<size_t, std::vector<Contribution>> current_;    // slot -> what it carries now
  std::vector<AppliedLora> applied_;
  ApplyStats stats_;
  std::map<const Loaded*, double> merge_ms_;  // computing + adding each LoRA's deltas, last apply
};

}  // namespace sdxlw::lora
