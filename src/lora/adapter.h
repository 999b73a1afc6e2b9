#pragma once
// LoRA-family files (kohya LoRA / LoCon, PEFT LoRA, LyCORIS LoHa and LoKr) split into modules,
// and the weight delta each module describes.
//
// Per module (its name is everything before the part's suffix):
//   LoRA: lora_up.weight [out, r(,1,1)], lora_down.weight [r, in(,kh,kw)], optional
//         lora_mid.weight [r, r, kh, kw] (LoCon Tucker; down is then 1×1). PEFT's lora_B / lora_A
//         are the same parts. ΔW = up @ (mid ∘) down, scaled alpha / r.
//   LoHa: hada_w1_a [out, r], hada_w1_b [r, in(,kh,kw)], hada_w2_a, hada_w2_b;
//         ΔW = (w1a @ w1b) ⊙ (w2a @ w2b), scaled alpha / r with r = rows of hada_w1_b. With
//         Tucker cores hada_t1/t2 [r, r, kh, kw] the factors are [r, out] and [r, in] and each
//         product is einsum("ijkl,jr,ip->prkl", t, w_b, w_a).
//   LoKr: lokr_w1 or lokr_w1_a @ lokr_w1_b; lokr_w2, lokr_w2_a @ lokr_w2_b, or its Tucker form
//         with lokr_t2; ΔW = kron(w1, w2) (w1 as [a, b, 1, 1] for a 4-D w2), scaled alpha / r
//         only when a factor is decomposed (r = rows of its _b; w2's when both are), else 1.
//   alpha: optional scalar; absent or 0 means alpha = r (scale 1), as kohya trains it.
// Sources for the formulas: LyCORIS (KohakuBlueleaf/LyCORIS) and ComfyUI comfy/weight_adapter.

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace sdxlw::lora {

enum class AdapterKind { LoRA, LoHa, LoKr };
const char* adapter_kind_name(AdapterKind kind);

enum class Part : uint8_t {
  Up,
  Down,
  Mid,
  HadaW1A,
  HadaW1B,
  HadaW2A,
  HadaW2B,
  HadaT1,
  HadaT2,
  LokrW1,
  LokrW1A,
  LokrW1B,
  LokrW2,
  LokrW2A,
  LokrW2B,
  LokrT2,
  Alpha,
  DoraScale,
  Count
};

struct AdapterModule {
  std::string name;  // as spelled in the file, e.g. "lora_unet_input_blocks_1_0_in_layers_2"
  AdapterKind kind = AdapterKind::LoRA;
  std::array<const TensorInfo*, static_cast<size_t>(Part::Count)> parts{};
  std::vector<std::string> keys;  // every tensor of this module
  std::optional<double> alpha;

  const TensorInfo* part(Part p) const { return parts[static_cast<size_t>(p)]; }
};

struct AdapterFile {
  SafetensorsFile file;
  std::vector<AdapterModule> modules;   // sorted by name
  std::vector<std::string> other_keys;  // tensors that belong to no recognised module part
};

// Maps and parses a LoRA file. Throws std::runtime_error (SafetensorsError for a file that is not
// valid safetensors) naming the file and the offending key: incomplete or inconsistent modules,
// non-float tensors, DoRA modules (dora_scale; not supported).
AdapterFile parse_adapter_file(const std::string& path);

// The shape of the delta a module describes ([out, in] or [out, in, kh, kw]; [out, in·kh·kw] for
// flat factors), checking that its parts agree. Throws naming the key that does not fit.
std::vector<int64_t> delta_shape(const AdapterFile& file, const AdapterModule& module);

// Whether a delta of that shape can be added to a weight (or weight slice) of `target` shape:
// equal up to trailing 1s (a 1×1 conv LoRA on a Linear), or [out, in·kh·kw] for a conv weight.
bool delta_fits(const std::vector<int64_t>& delta, const std::vector<int64_t>& target);

struct Delta {
  at::Tensor value;    // float32 on the requested device, shaped like the target
  double scale = 1.0;  // the module's own alpha / rank factor, to be multiplied by the user's scale
};

// Computes a module's delta in float32 on `device`. `target_shape` must satisfy delta_fits.
Delta compute_delta(const AdapterFile& file, const AdapterModule& module,
                    const std::vector<int64_t>& target_shape, at::Device device);

std::string shape_string(const std::vector<int64_t>& shape);  // "[4, 64, 3, 3]"

}  // namespace sdxlw::lora
