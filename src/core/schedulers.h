#pragma once
// Sampler names of the job contract (DESIGN §4) and the aliases users bring from diffusers,
// A1111 and the seed worker. Torch-free so validation needs no engine.

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdxlw {

// Canonical names, in the order error messages list them.
inline const std::vector<std::string>& scheduler_names() {
  static const std::vector<std::string> names = {"euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras",
                                                 "ddim"};
  return names;
}

// Resolves a canonical name or an alias, case-insensitively; nullopt when unknown.
inline std::optional<std::string> canonical_scheduler_name(std::string_view name) {
  static const std::vector<std::pair<std::string, std::string>> aliases = {
      {"euler", "euler"},
      {"k_euler", "euler"},
      {"euler_a", "euler_a"},
      {"k_euler_ancestral", "euler_a"},
      {"euler a", "euler_a"},
      {"euler_ancestral", "euler_a"},
      {"dpmpp_2m", "dpmpp_2m"},
      {"dpmsolvermultistep", "dpmpp_2m"},
      {"dpm++ 2m", "dpmpp_2m"},
      {"dpmpp_2m_karras", "dpmpp_2m_karras"},
      {"dpm++ 2m karras", "dpmpp_2m_karras"},
      {"ddim", "ddim"},
  };
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [alias, canonical] : aliases)
    if (alias == lower) return canonical;
  return std::nullopt;
}

}  // namespace sdxlw
