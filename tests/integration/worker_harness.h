#pragma once
// What the integration tests share to run the real sdxl-worker executable: its environment
// (nothing inherited from RunPod, Civitai or a models dir; the tokenizer from the source tree),
// the fixture model set in a temp dir, small jobs, and reading the one JSON document of local
// mode.

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/paths.h"
#include "support/subprocess.h"

namespace sdxlw::test {

using EnvChanges = std::map<std::string, std::optional<std::string>>;

inline std::filesystem::path worker_exe() { return SDXLW_WORKER_EXE; }

// Spawn options for the worker: `args`, this process's environment without RUNPOD_*, CIVITAI_*,
// MODELS_DIR and proxy variables, SDXLW_ASSETS_DIR = <source>/assets, OMP_WAIT_POLICY=PASSIVE,
// then `env` applied.
SpawnOptions worker_options(std::vector<std::string> args, const EnvChanges& env = {});

// Runs the worker to its end (killed after `timeout`).
ProcessResult run_worker(std::vector<std::string> args, const EnvChanges& env = {},
                         std::chrono::milliseconds timeout = std::chrono::minutes(5));

// A models dir holding the fixture model set (tiny_a and lora_a) and a models.json for it. The
// checkpoint is the copy rebuilt from its recipe: same tensors as the shared file, but its header
// may be formatted differently (tests/fixtures/README.md §6), so models.json's checkpoint sha256
// is left out unless `checkpoint_sha256` gives it.
class ModelSet {
 public:
  struct Options {
    std::filesystem::path checkpoint = tiny_checkpoint();  // empty: no checkpoint in the dir
    std::string checkpoint_sha256;
    std::string checkpoint_url;  // "" : none
    std::string lora_url;
  };
  ModelSet();
  explicit ModelSet(const Options& options);

  std::filesystem::path models_dir() const { return dir_ / "models"; }
  std::filesystem::path models_json() const { return dir_ / "models.json"; }
  const TempDir& dir() const { return dir_; }

  // --models, --models-dir and --device cpu, followed by `more`.
  std::vector<std::string> args(const std::vector<std::string>& more = {}) const;
  // Local mode with `--test_input job_json`.
  ProcessResult run_job(const std::string& job_json, const EnvChanges& env = {}) const;

 private:
  TempDir dir_;
};

// stdout must be exactly one JSON document (nothing before or after it); on anything else this
// records a test failure and returns null.
nlohmann::json parse_document(const ProcessResult& run);

// The text of a run for failure messages: exit status, stdout and stderr.
std::string describe(const ProcessResult& run);

// A job input that runs in a fraction of a second on the fixture model.
nlohmann::json small_input(int seed, int steps = 2, int side = 64);

// The fixture job tests/fixtures/jobs/<name>/job.json.
nlohmann::json fixture_job(const std::string& name);

}  // namespace sdxlw::test
