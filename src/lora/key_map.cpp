#include "lora/key_map.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace sdxlw::lora {
namespace {

constexpr std::string_view kUnetPrefix = "model.diffusion_model.";
constexpr std::string_view kTe1Prefix = "conditioner.embedders.0.transformer.";
constexpr std::string_view kTe2Prefix = "conditioner.embedders.1.model.transformer.resblocks.";

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    out.emplace_back(s.substr(start, dot == std::string_view::npos ? s.npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

std::string join(const std::vector<std::string>& parts, size_t from) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) out += (i > from ? "." : "") + parts[i];
  return out;
}

std::string underscored(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

std::optional<int> parse_index(const std::string& s) {
  if (s.empty() || s.size() > 6 ||
      !std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoi(s);
}

// ResBlock part names: sgm → diffusers.
std::string resnet_part(const std::string& rest) {
  static const std::vector<std::pair<std::string, std::string>> parts = {
      {"in_layers.0", "norm1"},  {"in_layers.2", "conv1"},  {"emb_layers.1", "time_emb_proj"},
      {"out_layers.0", "norm2"}, {"out_layers.3", "conv2"}, {"skip_connection", "conv_shortcut"},
  };
  for (const auto& [ldm, diffusers] : parts)
    if (rest == ldm) return diffusers;
  return "";
}

bool is_resnet_part(const std::string& rest) { return !resnet_part(rest).empty(); }

}  // namespace

UnetLayout::UnetLayout(const std::vector<std::string>& paths) {
  std::vector<int> blocks;
  std::vector<int> downsamplers;
  for (const auto& p : paths) {
    if (!starts_with(p, "input_blocks.")) continue;
    const auto parts = split(p);
    if (parts.size() < 3) continue;
    const auto n = parse_index(parts[1]);
    if (!n || *n == 0) continue;  // block 0 is conv_in
    blocks.push_back(*n);
    if (parts[2] == "0" && parts.size() > 3 && parts[3] == "op") downsamplers.push_back(*n);
  }
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  int level = 0;
  int index = 0;
  int level0_blocks = 0;
  for (int n : blocks) {
    if (std::find(downsamplers.begin(), downsamplers.end(), n) != downsamplers.end()) {
      input_position_[n] = {level, -1};
      ++level;
      index = 0;
    } else {
      input_position_[n] = {level, index++};
      if (level == 0) ++level0_blocks;
    }
  }
  // Each output level holds one more block than an input level (it also takes the skip from the
  // downsampler / conv_in).
  output_blocks_per_level_ = level0_blocks > 0 ? level0_blocks + 1 : 0;
}

std::string UnetLayout::diffusers_path(std::string_view ldm_module) const {
  const std::string ldm(ldm_module);
  if (ldm == "time_embed.0") return "time_embedding.linear_1";
  if (ldm == "time_embed.2") return "time_embedding.linear_2";
  if (ldm == "label_emb.0.0") return "add_embedding.linear_1";
  if (ldm == "label_emb.0.2") return "add_embedding.linear_2";
  if (ldm == "input_blocks.0.0") return "conv_in";
  if (ldm == "out.0") return "conv_norm_out";
  if (ldm == "out.2") return "conv_out";

  const auto parts = split(ldm);
  if (parts[0] == "input_blocks" && parts.size() >= 4) {
    const auto n = parse_index(parts[1]);
    const auto it = n ? input_position_.find(*n) : input_position_.end();
    if (it == input_position_.end()) return "";
    const auto [level, index] = it->second;
    const std::string rest = join(parts, 3);
    const std::string block = "down_blocks." + std::to_string(level) + ".";
    if (index < 0) {
      return parts[2] == "0" && rest == "op" ? block + "downsamplers.0.conv" : "";
    }
    if (parts[2] == "0") {
      const std::string r = resnet_part(rest);
      return r.empty() ? "" : block + "resnets." + std::to_string(index) + "." + r;
    }
    if (parts[2] == "1") return block + "attentions." + std::to_string(index) + "." + rest;
    return "";
  }
  if (parts[0] == "middle_block" && parts.size() >= 3) {
    const std::string rest = join(parts, 2);
    if (parts[1] == "1") return "mid_block.attentions.0." + rest;
    if (parts[1] == "0" || parts[1] == "2") {
      const std::string r = resnet_part(rest);
      return r.empty() ? ""
                       : "mid_block.resnets." + std::string(parts[1] == "0" ? "0" : "1") + "." + r;
    }
    return "";
  }
  if (parts[0] == "output_blocks" && parts.size() >= 4 && output_blocks_per_level_ > 0) {
    const auto n = parse_index(parts[1]);
    if (!n) return "";
    const std::string rest = join(parts, 3);
    const std::string block = "up_blocks." + std::to_string(*n / output_blocks_per_level_) + ".";
    const std::string index = std::to_string(*n % output_blocks_per_level_);
    if (is_resnet_part(rest)) {
      return parts[2] == "0" ? block + "resnets." + index + "." + resnet_part(rest) : "";
    }
    if (rest == "conv") return block + "upsamplers.0.conv";
    return parts[2] == "1" ? block + "attentions." + index + "." + rest : "";
  }
  return "";
}

KeyMap::KeyMap(const std::vector<nn::ParamSlot>& params) {
  std::vector<std::string> unet_paths;
  for (const auto& p : params)
    if (starts_with(p.name, kUnetPrefix)) unet_paths.push_back(p.name.substr(kUnetPrefix.size()));
  const UnetLayout layout(unet_paths);

  for (size_t i = 0; i < params.size(); ++i) {
    const nn::ParamSlot& p = params[i];
    const std::string_view name = p.name;
    if (starts_with(name, kUnetPrefix) && ends_with(name, ".weight") &&
        (p.shape.size() == 2 || p.shape.size() == 4)) {
      const std::string path(name.substr(kUnetPrefix.size(), name.size() - kUnetPrefix.size() - 7));
      const std::string kohya = "lora_unet_" + underscored(path);
      std::vector<std::string> aliases = {kohya};
      const std::string diffusers = layout.diffusers_path(path);
      if (!diffusers.empty()) {
        aliases.push_back("lora_unet_" + underscored(diffusers));
        aliases.push_back("unet." + diffusers);
      }
      add(Target{kohya, i, 0, -1, p.shape}, aliases);
    } else if (starts_with(name, std::string(kTe1Prefix) + "text_model.encoder.layers.") &&
               ends_with(name, ".weight") && p.shape.size() == 2) {
      // text_model.encoder.layers.N.{self_attn.{q,k,v,out}_proj, mlp.fc1, mlp.fc2}
      const std::string hf(name.substr(kTe1Prefix.size(), name.size() - kTe1Prefix.size() - 7));
      const auto parts = split(hf);
      if (parts.size() != 6 || !parse_index(parts[3])) continue;
      const std::string layer = parts[4] + "." + parts[5];
      static const std::vector<std::string> linears = {"self_attn.q_proj", "self_attn.k_proj",
                                                       "self_attn.v_proj", "self_attn.out_proj",
                                                       "mlp.fc1",          "mlp.fc2"};
      if (std::find(linears.begin(), linears.end(), layer) == linears.end()) continue;
      const std::string kohya = "lora_te1_" + underscored(hf);
      add(Target{kohya, i, 0, -1, p.shape}, {kohya, "text_encoder." + hf});
    } else if (starts_with(name, kTe2Prefix)) {
      // open_clip resblocks.N.{attn.in_proj_weight, attn.out_proj.weight, mlp.c_fc.weight,
      // mlp.c_proj.weight} under the HF CLIPTextModel names LoRA trainers use.
      const auto parts = split(name.substr(kTe2Prefix.size()));
      if (parts.size() < 2 || !parse_index(parts[0]) || p.shape.size() != 2) continue;
      const std::string rest = join(parts, 1);
      const std::string layer = "text_model.encoder.layers." + parts[0] + ".";
      auto add_te2 = [&](const std::string& hf, int64_t row_begin, int64_t rows,
                         std::vector<int64_t> shape) {
        const std::string kohya = "lora_te2_" + underscored(hf);
        add(Target{kohya, i, row_begin, rows, std::move(shape)}, {kohya, "text_encoder_2." + hf});
      };
      if (rest == "attn.in_proj_weight") {
        if (p.shape[0] % 3 != 0) {
          throw std::runtime_error("lora: " + p.name + " has " + std::to_string(p.shape[0]) +
                                   " rows, not a multiple of 3 (fused q, k, v)");
        }
        const int64_t w = p.shape[0] / 3;
        const char* qkv[] = {"q", "k", "v"};
        for (int j = 0; j < 3; ++j) {
          add_te2(layer + "self_attn." + qkv[j] + "_proj", j * w, w, {w, p.shape[1]});
        }
      } else if (rest == "attn.out_proj.weight") {
        add_te2(layer + "self_attn.out_proj", 0, -1, p.shape);
      } else if (rest == "mlp.c_fc.weight") {
        add_te2(layer + "mlp.fc1", 0, -1, p.shape);
      } else if (rest == "mlp.c_proj.weight") {
        add_te2(layer + "mlp.fc2", 0, -1, p.shape);
      }
    }
  }
}

void KeyMap::add(Target target, const std::vector<std::string>& aliases) {
  const size_t index = targets_.size();
  for (const auto& alias : aliases) {
    const auto [it, inserted] = index_.emplace(alias, index);
    if (!inserted && it->second != index) {
      throw std::logic_error("lora: the LoRA name \"" + alias + "\" fits two weights (" +
                             targets_[it->second].name + " and " + target.name + ")");
    }
  }
  targets_.push_back(std::move(target));
}

const Target* KeyMap::find(std::string_view module_name) const {
  const auto it = index_.find(std::string(module_name));
  return it == index_.end() ? nullptr : &targets_[it->second];
}

}  // namespace sdxlw::lora
