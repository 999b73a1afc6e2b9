#pragma once
// The start-up phase that makes every models.json file present and verified in the cache dir.

#include <string>
#include <vector>

#include "core/model_files.h"
#include "store/models_config.h"

namespace sdxlw {

struct StoreOptions {
  std::string models_dir;                  // already resolved (resolve_models_dir)
  std::string civitai_api_key;             // CIVITAI_API_KEY; may be empty
  std::vector<std::string> civitai_hosts;  // host[:port] that may receive the key
  bool allow_network = true;               // false: every file must already be cached
};

// --models-dir > $MODELS_DIR > /runpod-volume/models when /runpod-volume exists > ./models.
std::string resolve_models_dir(const std::string& flag_value);

// StoreOptions from the environment (CIVITAI_API_KEY, CIVITAI_HOSTS, default "civitai.com").
StoreOptions store_options_from_env(const std::string& models_dir);

// Makes every file present and verified (downloading what is missing), then returns their paths.
// Throws std::runtime_error with a message a user can act on.
ModelFiles ensure_models(const ModelsConfig& config, const StoreOptions& options);

}  // namespace sdxlw
