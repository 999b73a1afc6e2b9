#pragma once
// The command line (DESIGN §3) and the mode selection of the RunPod Python SDK. Torch-free.

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "runpod/runpod_env.h"

namespace sdxlw {

struct CliOptions {
  bool serve_api = false;               // --rp_serve_api
  std::string api_host = "127.0.0.1";   // --rp_api_host
  int api_port = 8000;                  // --rp_api_port
  std::optional<std::string> test_input;  // --test_input JSON
  std::string output_dir;               // --output-dir
  std::string models_file = "models.json";  // --models
  std::string models_dir;               // --models-dir ("" = MODELS_DIR or the default)
  bool download_only = false;           // --download-only
  std::string device = "auto";          // --device auto|cpu|cuda
  std::string dtype = "auto";           // --dtype auto|fp32|bf16|fp16
  std::string log_level;                // --rp_log_level ("" = RUNPOD_LOG_LEVEL or info)
  bool version = false;                 // --version
  bool help = false;                    // --help, -h
};

class CliError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `args` without the program name. Accepts "--flag value" and "--flag=value", and '-' and '_'
// alike inside flag names (--output-dir = --output_dir). Throws CliError naming the problem.
CliOptions parse_cli(const std::vector<std::string>& args);

std::string usage();

enum class Mode { local, local_api, serverless };

// --rp_serve_api → local_api; else --test_input or no RUNPOD_WEBHOOK_GET_JOB → local; else
// serverless.
Mode select_mode(const CliOptions& options, const EnvLookup& env);

const char* mode_name(Mode mode);

}  // namespace sdxlw
