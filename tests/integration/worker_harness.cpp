#include "integration/worker_harness.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/image_compare.h"

namespace sdxlw::test {

namespace fs = std::filesystem;
using nlohmann::json;

SpawnOptions worker_options(std::vector<std::string> args, const EnvChanges& env) {
  SpawnOptions options;
  options.args = std::move(args);
  options.remove_env_prefixes = {"RUNPOD_", "CIVITAI_", "MODELS_DIR", "SDXLW_ASSETS_DIR", "http_proxy",
                                 "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
  options.env["SDXLW_ASSETS_DIR"] = (source_dir() / "assets").string();
  // Tests share the machine with other processes (ctest -j, other builds): OpenMP threads that
  // spin while they wait then slow the worker down by an order of magnitude.
  options.env["OMP_WAIT_POLICY"] = "PASSIVE";
  for (const auto& [name, value] : env) options.env[name] = value;
  return options;
}

ProcessResult run_worker(std::vector<std::string> args, const EnvChanges& env, std::chrono::milliseconds timeout) {
  return run_process(worker_exe(), worker_options(std::move(args), env), timeout);
}

ModelSet::ModelSet() : ModelSet(Options{}) {}

ModelSet::ModelSet(const Options& options) {
  fs::create_directories(models_dir());
  if (!options.checkpoint.empty()) fs::create_symlink(options.checkpoint, models_dir() / "tiny_a.safetensors");
  fs::create_symlink(fixture("lora_a.safetensors"), models_dir() / "lora_a.safetensors");
  std::ifstream in(fixture("models.json"));
  json models = json::parse(in);
  json& checkpoint = models.at("checkpoint");
  checkpoint.erase("sha256");
  if (!options.checkpoint_sha256.empty()) checkpoint["sha256"] = options.checkpoint_sha256;
  if (!options.checkpoint_url.empty()) checkpoint["url"] = options.checkpoint_url;
  if (!options.lora_url.empty()) models.at("loras").at(0)["url"] = options.lora_url;
  std::ofstream(models_json()) << models.dump(1);
}

std::vector<std::string> ModelSet::args(const std::vector<std::string>& more) const {
  std::vector<std::string> out = {"--models", models_json().string(), "--models-dir", models_dir().string(),
                                  "--device", "cpu"};
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

ProcessResult ModelSet::run_job(const std::string& job_json, const EnvChanges& env) const {
  return run_worker(args({"--test_input", job_json}), env);
}

json parse_document(const ProcessResult& run) {
  try {
    return json::parse(run.out);
  } catch (const json::parse_error& e) {
    ADD_FAILURE() << "stdout is not one JSON document (" << e.what() << ")\n" << describe(run);
    return json();
  }
}

std::string describe(const ProcessResult& run) {
  std::string status = run.timed_out ? "timed out and killed"
                       : run.term_signal ? "killed by signal " + std::to_string(run.term_signal)
                                         : "exit " + std::to_string(run.exit_code);
  return status + "\nstdout:\n" + run.out + "\nstderr:\n" + run.err;
}

json small_input(int seed, int steps, int side) {
  return {{"prompt", "a lighthouse on a cliff"},
          {"width", side},
          {"height", side},
          {"num_inference_steps", steps},
          {"guidance_scale", 5.0},
          {"seed", seed},
          {"loras", json::array()}};
}

json fixture_job(const std::string& name) {
  return json::parse(read_file_bytes(fixture("jobs/" + name + "/job.json")));
}

}  // namespace sdxlw::test
