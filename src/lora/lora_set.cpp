#include "lora/lora_set.h"

#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <stdexcept>

#include "core/errors.h"

namespace sdxlw::lora {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string join_capped(const std::vector<std::string>& items, size_t cap) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < cap; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > cap) out += ", ... (" + std::to_string(items.size() - cap) + " more)";
  return out;
}

// A description of the model family a file was made for when it is evidently not SDXL; "" when
// nothing says so. `decisive` is set when the keys themselves prove it.
std::string foreign_architecture(const AdapterFile& file, bool& decisive) {
  decisive = false;
  for (const auto& t : file.file.tensors()) {
    if (starts_with(t.name, "lora_te_")) {
      decisive = true;
      return "SD1.x / SD2.x (its text-encoder keys are lora_te_*, for a single text encoder; "
             "SDXL LoRAs have lora_te1_* and lora_te2_*)";
    }
  }
  for (const auto& t : file.file.tensors()) {
    const std::string& k = t.name;
    if (k.find("double_blocks") != k.npos || k.find("single_blocks") != k.npos ||
        k.find("single_transformer_blocks") != k.npos || k.find("joint_blocks") != k.npos) {
      return "a transformer (DiT) model such as Flux or SD3";
    }
  }
  const auto& meta = file.file.metadata();
  if (auto it = meta.find("ss_base_model_version");
      it != meta.end() && !it->second.empty() && !starts_with(it->second, "sdxl")) {
    return "\"" + it->second + "\" (ss_base_model_version)";
  }
  if (auto it = meta.find("modelspec.architecture");
      it != meta.end() && !it->second.empty() && !starts_with(it->second, "stable-diffusion-xl")) {
    return "\"" + it->second + "\" (modelspec.architecture)";
  }
  return "";
}

// A copy of a weight's checkpoint value. A float32 weight upcast from an fp16 / bf16 checkpoint
// is kept at half the size when that is exact (checked, so the restore stays bit-identical).
at::Tensor base_copy(const at::Tensor& w) {
  if (w.scalar_type() == at::kFloat) {
    for (at::ScalarType compact : {at::kHalf, at::kBFloat16}) {
      at::Tensor c = w.to(compact);
      if (at::equal(c.to(at::kFloat), w)) return c;
    }
  }
  return w.clone();
}

}  // namespace

struct LoraSet::Loaded {
  struct Merge {
    size_t module = 0;  // into file.modules
    size_t target = 0;  // into KeyMap::targets()
  };
  std::string name;
  AdapterFile file;
  std::vector<Merge> merges;  // in module order
  int unmatched_keys = 0;
};

LoraSet::LoraSet(std::vector<nn::ParamSlot> model_params, std::vector<LoraFile> available)
    : params_(std::move(model_params)), available_(std::move(available)), key_map_(params_) {
  spdlog::debug("lora: {} weights of this model can take LoRA changes ({} names accepted)",
                key_map_.targets().size(), key_map_.alias_count());
}

LoraSet::~LoraSet() = default;

std::vector<LoraChoice> LoraSet::default_choice() const {
  std::vector<LoraChoice> out;
  for (const auto& f : available_) out.push_back({f.name, f.default_scale});
  return out;
}

int64_t LoraSet::base_copy_bytes() const {
  int64_t n = 0;
  for (const auto& [slot, t] : base_) n += static_cast<int64_t>(t.nbytes());
  return n;
}

const LoraSet::Loaded& LoraSet::load(const LoraFile& lora) {
  if (auto it = loaded_.find(lora.name); it != loaded_.end()) return *it->second;
  const auto start = Clock::now();
  const std::string who = "LoRA " + quoted(lora.name) + " (" + lora.path + ")";

  std::unique_ptr<Loaded> loaded;
  try {
    loaded = std::make_unique<Loaded>(Loaded{lora.name, parse_adapter_file(lora.path), {}, 0});
  } catch (const std::exception& e) {
    throw std::runtime_error("LoRA " + quoted(lora.name) + ": " + e.what());
  }
  const AdapterFile& file = loaded->file;

  bool decisive = false;
  const std::string foreign = foreign_architecture(file, decisive);
  const std::string foreign_hint =
      foreign.empty() ? "" : "; it looks like a LoRA for another architecture: " + foreign;
  if (decisive) {
    throw std::runtime_error(who + " targets another architecture: " + foreign +
                             "; this worker runs SDXL");
  }

  std::vector<std::string> unmatched;
  for (const auto& key : file.other_keys) {
    // A key of a kind we do not merge whose module is a weight of ours must not be ignored.
    const size_t dot = key.rfind('.');
    if (dot != std::string::npos) {
      if (const Target* t = key_map_.find(std::string_view(key).substr(0, dot))) {
        throw std::runtime_error(who + ": tensor " + quoted(key) + " changes " +
                                 params_[t->slot].name +
                                 " in a way this worker does not support (" + key.substr(dot + 1) +
                                 "); supported: LoRA / LoCon, LoHa and LoKr modules");
      }
    }
    unmatched.push_back(key);
  }

  std::map<size_t, size_t> module_of_target;
  std::map<std::string, int> kinds;
  for (size_t i = 0; i < file.modules.size(); ++i) {
    const AdapterModule& m = file.modules[i];
    const Target* t = key_map_.find(m.name);
    if (!t) {
      unmatched.insert(unmatched.end(), m.keys.begin(), m.keys.end());
      continue;
    }
    const size_t target = static_cast<size_t>(t - key_map_.targets().data());
    if (auto [it, inserted] = module_of_target.emplace(target, i); !inserted) {
      throw std::runtime_error(who + ": modules " + quoted(file.modules[it->second].name) +
                               " and " + quoted(m.name) + " both change " + params_[t->slot].name);
    }
    std::vector<int64_t> shape;
    try {
      shape = delta_shape(file, m);
    } catch (const std::exception& e) {
      throw std::runtime_error("LoRA " + quoted(lora.name) + ": " + e.what());
    }
    if (!delta_fits(shape, t->shape)) {
      std::string weight = params_[t->slot].name;
      std::string hint = foreign_hint;
      const bool cross_attention_kv = weight.find("attn2.to_k.") != std::string::npos ||
                                      weight.find("attn2.to_v.") != std::string::npos;
      if (hint.empty() && cross_attention_kv && shape.size() == 2 &&
          (shape[1] == 768 || shape[1] == 1024)) {
        hint = "; it looks like a LoRA for another architecture: its cross-attention reads " +
               std::to_string(shape[1]) + "-wide text states, as " +
               (shape[1] == 768 ? "SD1.x" : "SD2.x") + " does";
      }
      if (hint.empty()) hint = "; is it a LoRA for another architecture (SD1.x, SD2.x)?";
      if (!t->whole()) {
        weight +=
            " rows " + std::to_string(t->row_begin) + ".." + std::to_string(t->row_begin + t->rows);
      }
      throw std::runtime_error(who + " does not fit this model: module " + quoted(m.name) +
                               " makes a change of shape " + shape_string(shape) + " but " +
                               weight + " has shape " + shape_string(t->shape) + hint);
    }
    loaded->merges.push_back({i, target});
    ++kinds[adapter_kind_name(m.kind)];
  }

  const size_t total_keys = file.file.tensors().size();
  if (loaded->merges.empty()) {
    throw std::runtime_error(
        who + ": none of its " + std::to_string(total_keys) +
        " tensors matches a weight of this SDXL model (" + join_capped(unmatched, 5) + ")" +
        (foreign_hint.empty() ? "; expected kohya names (lora_unet_*, lora_te1_*, lora_te2_*) or "
                                "diffusers / PEFT names (unet.*, text_encoder.*, text_encoder_2.*)"
                              : foreign_hint));
  }
  loaded->unmatched_keys = static_cast<int>(unmatched.size());

  std::string kind_text;
  for (const auto& [kind, n] : kinds)
    kind_text += (kind_text.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  spdlog::info(
      "lora: {} {}: {} modules ({}) match weights, {} unmatched keys; checked in {:.1f} ms",
      quoted(lora.name), lora.path, loaded->merges.size(), kind_text, unmatched.size(),
      ms_since(start));
  if (!unmatched.empty()) {
    spdlog::warn("lora: {}: {} of its {} tensors match no weight of this model and are ignored: {}",
                 quoted(lora.name), unmatched.size(), total_keys, join_capped(unmatched, 10));
  }
  const Loaded& ref = *loaded;
  loaded_.emplace(lora.name, std::move(loaded));
  return ref;
}

std::vector<AppliedLora> LoraSet::apply(const std::optional<std::vector<LoraChoice>>& choice) {
  return apply(choice ? *choice : default_choice());
}

std::vector<AppliedLora> LoraSet::apply(const std::vector<LoraChoice>& choice) {
  const auto start = Clock::now();

  // 1. The request itself.
  std::vector<std::string> problems;
  std::vector<const LoraFile*> files;
  std::set<std::string> seen;
  for (const auto& c : choice) {
    const auto it = std::find_if(available_.begin(), available_.end(),
                                 [&](const LoraFile& f) { return f.name == c.name; });
    if (it == available_.end()) {
      std::string known;
      for (const auto& f : available_) known += (known.empty() ? "" : ", ") + quoted(f.name);
      problems.push_back("LoRA " + quoted(c.name) + " is not in models.json (known: " +
                         (known.empty() ? "none" : known) + ")");
    } else if (!seen.insert(c.name).second) {
      problems.push_back("LoRA " + quoted(c.name) + " is listed twice");
    }
    if (!std::isfinite(c.scale)) {
      problems.push_back("LoRA " + quoted(c.name) + " has a scale that is not a finite number");
    }
    files.push_back(it == available_.end() ? nullptr : &*it);
  }
  if (!problems.empty()) {
    std::string message;
    for (const auto& p : problems) message += (message.empty() ? "" : "; ") + p;
    throw InvalidRequest(message);
  }

  // 2. Every file parsed and checked before any weight changes.
  std::vector<const Loaded*> loras;
  for (const LoraFile* f : files) loras.push_back(&load(*f));
  const double load_ms = ms_since(start);

  // 3. What each weight should carry.
  std::map<size_t, std::vector<Contribution>> desired;
  const auto& targets = key_map_.targets();
  for (size_t i = 0; i < choice.size(); ++i) {
    if (choice[i].scale == 0.0) continue;
    for (size_t j = 0; j < loras[i]->merges.size(); ++j) {
      const size_t slot = targets[loras[i]->merges[j].target].slot;
      desired[slot].push_back({loras[i], j, choice[i].scale});
    }
  }
  for (const auto& [slot, contributions] : desired) {
    const nn::ParamSlot& p = params_[slot];
    if (!p.tensor || !p.tensor->defined()) {
      throw std::logic_error("lora: weight " + p.name + " is not loaded");
    }
    if (p.tensor->sizes().vec() != p.shape) {
      throw std::logic_error("lora: weight " + p.name + " has shape " +
                             shape_string(p.tensor->sizes().vec()) + ", expected " +
                             shape_string(p.shape));
    }
  }
  std::vector<size_t> changed;
  static const std::vector<Contribution> kNone;
  auto contributions_of = [](const std::map<size_t, std::vector<Contribution>>& m,
                             size_t slot) -> const std::vector<Contribution>& {
    const auto it = m.find(slot);
    return it == m.end() ? kNone : it->second;
  };
  {
    std::set<size_t> slots;
    for (const auto& [slot, c] : desired) slots.insert(slot);
    for (const auto& [slot, c] : current_) slots.insert(slot);
    for (size_t slot : slots)
      if (!(contributions_of(desired, slot) == contributions_of(current_, slot)))
        changed.push_back(slot);
  }

  // 4. Re-merge the changed weights; on failure put every one back as it was.
  const auto merge_start = Clock::now();
  merge_ms_.clear();
  {
    c10::InferenceMode guard;
    size_t done = 0;
    try {
      for (; done < changed.size(); ++done)
        remerge(changed[done], contributions_of(desired, changed[done]));
    } catch (const std::exception& e) {
      try {
        for (size_t k = 0; k <= done && k < changed.size(); ++k) {
          remerge(changed[k], contributions_of(current_, changed[k]));
        }
      } catch (const std::exception& restore_error) {
        throw EngineUnusable(std::string("merging LoRAs failed (") + e.what() +
                             ") and the weights could not be restored: " + restore_error.what());
      }
      throw;
    }
  }
  current_ = std::move(desired);

  applied_.clear();
  std::string summary;
  for (size_t i = 0; i < choice.size(); ++i) {
    applied_.push_back({choice[i].name, choice[i].scale, loras[i]->unmatched_keys});
    summary += fmt::format("{}{} ×{:g}", summary.empty() ? "" : ", ", quoted(choice[i].name),
                           choice[i].scale);
    if (const auto it = merge_ms_.find(loras[i]); it != merge_ms_.end()) {
      summary += fmt::format(" ({:.1f} ms)", it->second);
    }
  }
  stats_.weights_changed = static_cast<int>(changed.size());
  stats_.load_ms = load_ms;
  stats_.merge_ms = ms_since(merge_start);
  if (!changed.empty()) {
    spdlog::info(
        "lora: now merged: {}; {} weights re-merged in {:.1f} ms (files checked in {:.1f} ms)",
        summary.empty() ? "none" : summary, changed.size(), stats_.merge_ms, load_ms);
  }
  return applied_;
}

void LoraSet::remerge(size_t slot, const std::vector<Contribution>& contributions) {
  at::Tensor& w = *params_[slot].tensor;
  auto base = base_.find(slot);
  if (base == base_.end()) {
    if (contributions.empty()) return;  // never changed, so it still is the checkpoint's value
    base = base_.emplace(slot, base_copy(w)).first;
  }
  if (contributions.empty()) {
    w.copy_(base->second);
    return;
  }
  at::Tensor acc;
  if (w.scalar_type() == at::kFloat) {
    w.copy_(base->second);
    acc = w;
  } else {
    acc = base->second.to(w.device(), at::kFloat, /*non_blocking=*/false, /*copy=*/true);
  }
  const auto& targets = key_map_.targets();
  for (const Contribution& c : contributions) {
    const Loaded::Merge& merge = c.lora->merges[c.merge];
    const Target& t = targets[merge.target];
    const auto start = Clock::now();
    const Delta delta =
        compute_delta(c.lora->file, c.lora->file.modules[merge.module], t.shape, w.device());
    at::Tensor dst = t.whole() ? acc : acc.narrow(0, t.row_begin, t.rows);
    dst.add_(delta.value, c.scale * delta.scale);
    merge_ms_[c.lora] += ms_since(start);
  }
  if (!acc.is_same(w)) w.copy_(acc);
}

}  // namespace sdxlw::lora
