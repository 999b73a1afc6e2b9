#pragma once
// models.json (DESIGN §5): one SDXL checkpoint and any number of LoRAs with default scales.

#include <optional>
#include <string>
#include <vector>

namespace sdxlw {

struct ModelEntry {
  std::string name;
  std::string filename;  // a plain file name inside the models dir (no separators, no "..")
  std::string url;       // empty when the file must already be in the models dir
  std::string sha256;    // lower-case hex, or empty when unknown
  std::optional<double> scale;  // LoRAs only: the default scale (required for LoRAs)
};

struct ModelsConfig {
  ModelEntry checkpoint;
  std::vector<ModelEntry> loras;
  std::string source;  // the file it was read from, for messages
};

// Parses and validates; throws std::runtime_error listing every problem, each naming the entry
// and the field ("loras[1] (\"Detail Tweaker XL\"): scale is missing").
ModelsConfig parse_models_config(const std::string& json_text, const std::string& source);
ModelsConfig load_models_config(const std::string& path);

}  // namespace sdxlw
