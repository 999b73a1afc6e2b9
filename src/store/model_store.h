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

  // Retries of one file (connection errors, drops, 429, 5xx): capped exponential back-off.
  // An attempt that gets further into the file than any before resets the count, so a long
  // download survives many drops.
  int max_attempts = 8;              // consecutive failed attempts before giving up
  double retry_initial_delay_s = 1;  // first back-off; doubles after each failure...
  double retry_max_delay_s = 30;     // ...up to this
  double connect_timeout_s = 20;
  double low_speed_timeout_s = 60;  // a transfer under 1 byte/s for this long is dropped (retried)
  double api_timeout_s = 30;        // the model-version API request
  double progress_interval_s = 5;   // at most one progress line per interval per download
};

// --models-dir > $MODELS_DIR > /runpod-volume/models when /runpod-volume exists > ./models.
// Returns an absolute, normalised path.
std::string resolve_models_dir(const std::string& flag_value);
// The same rule with its inputs explicit (an empty value counts as unset).
std::string resolve_models_dir(const std::string& flag_value, const std::string& env_value,
                               const std::string& runpod_volume);

// StoreOptions from the environment (CIVITAI_API_KEY, CIVITAI_HOSTS, default "civitai.com").
// Throws std::runtime_error naming a malformed CIVITAI_HOSTS entry.
StoreOptions store_options_from_env(const std::string& models_dir);

// Makes every file present and verified (downloading what is missing), then returns their paths.
// Throws std::runtime_error with a message a user can act on.
//
// Per file, in the models dir: a file whose NAME.sha256.json record still matches its size and
// mtime (and the models.json sha256, when given) is used without hashing or network. Anything
// else happens under an flock on NAME.lock, so workers sharing the dir fetch each file once:
// an existing file without a valid record is hashed (and re-fetched when its url is known and
// the hash is wrong); a missing one is downloaded to NAME.part (resuming a part left by a dead
// process), verified, fsynced and renamed. Logs what was cached, fetched and how long it took.
ModelFiles ensure_models(const ModelsConfig& config, const StoreOptions& options);

}  // namespace sdxlw
