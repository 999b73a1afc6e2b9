#include "app/cli.h"

#include <algorithm>
#include <functional>
#include <map>

#include "util/log.h"

namespace sdxlw {
namespace {

struct Flag {
  bool takes_value;
  std::function<void(CliOptions&, const std::string& value)> apply;
};

int parse_port(const std::string& flag, const std::string& value) {
  size_t used = 0;
  long port = 0;
  try {
    port = std::stol(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || port < 1 || port > 65535)
    throw CliError(flag + " must be a port number from 1 to 65535 (got \"" + value + "\")");
  return static_cast<int>(port);
}

std::string one_of(const std::string& flag, const std::string& value,
                   const std::vector<std::string>& allowed) {
  std::string lower = value;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::find(allowed.begin(), allowed.end(), lower) != allowed.end()) return lower;
  std::string list;
  for (size_t i = 0; i < allowed.size(); ++i) list += (i ? "|" : "") + allowed[i];
  throw CliError(flag + " must be " + list + " (got \"" + value + "\")");
}

const std::map<std::string, Flag>& flags() {
  static const std::map<std::string, Flag> table = {
      {"rp_serve_api", {false, [](CliOptions& o, const std::string&) { o.serve_api = true; }}},
      {"rp_api_host", {true, [](CliOptions& o, const std::string& v) {
                         if (v.empty()) throw CliError("--rp_api_host must not be empty");
                         o.api_host = v;
                       }}},
      {"rp_api_port", {true, [](CliOptions& o, const std::string& v) {
                         o.api_port = parse_port("--rp_api_port", v);
                       }}},
      {"test_input", {true, [](CliOptions& o, const std::string& v) { o.test_input = v; }}},
      {"output_dir", {true, [](CliOptions& o, const std::string& v) {
                        if (v.empty()) throw CliError("--output-dir must not be empty");
                        o.output_dir = v;
                      }}},
      {"models", {true, [](CliOptions& o, const std::string& v) {
                    if (v.empty()) throw CliError("--models must not be empty");
                    o.models_file = v;
                  }}},
      {"models_dir", {true, [](CliOptions& o, const std::string& v) {
                        if (v.empty()) throw CliError("--models-dir must not be empty");
                        o.models_dir = v;
                      }}},
      {"download_only", {false, [](CliOptions& o, const std::string&) { o.download_only = true; }}},
      {"device", {true, [](CliOptions& o, const std::string& v) {
                    o.device = one_of("--device", v, {"auto", "cpu", "cuda"});
                  }}},
      {"dtype", {true, [](CliOptions& o, const std::string& v) {
                   o.dtype = one_of("--dtype", v, {"auto", "fp32", "bf16", "fp16"});
                 }}},
      {"rp_log_level", {true, [](CliOptions& o, const std::string& v) {
                          if (!parse_log_level(v))
                            throw CliError("--rp_log_level must be one of ERROR, WARN, INFO, DEBUG, "
                                           "TRACE (got \"" + v + "\")");
                          o.log_level = v;
                        }}},
      {"version", {false, [](CliOptions& o, const std::string&) { o.version = true; }}},
      {"help", {false, [](CliOptions& o, const std::string&) { o.help = true; }}},
  };
  return table;
}

}  // namespace

CliOptions parse_cli(const std::vector<std::string>& args) {
  CliOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h") {
      options.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2)
      throw CliError("unexpected argument \"" + arg + "\" (every option starts with --)");
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    std::string shown = "--" + name;
    std::replace(name.begin(), name.end(), '-', '_');
    auto flag = flags().find(name);
    if (flag == flags().end()) throw CliError("unknown option " + shown);
    if (!flag->second.takes_value) {
      if (value) throw CliError(shown + " takes no value");
    } else if (!value) {
      if (i + 1 >= args.size()) throw CliError(shown + " needs a value");
      value = args[++i];
    }
    flag->second.apply(options, value.value_or(""));
  }
  return options;
}

std::string usage() {
  return R"(usage: sdxl-worker [options]

A RunPod serverless worker for Stable Diffusion XL. The mode follows the RunPod Python SDK:
  --rp_serve_api                 serve the local HTTP API (POST /runsync, POST /run,
                                 GET|POST /status/{id}, GET /health)
  --test_input JSON, or RUNPOD_WEBHOOK_GET_JOB unset
                                 local mode: run one job (from --test_input or
                                 ./test_input.json), print one JSON document, exit 0 or 1
  otherwise                      the RunPod serverless loop

options:
  --rp_api_host HOST             local API address (default 127.0.0.1)
  --rp_api_port PORT             local API port (default 8000)
  --test_input JSON              the job, e.g. '{"input": {"prompt": "a cat"}}'
  --output-dir DIR               local mode: also write the PNGs to DIR/<job id>_<i>.png
  --models FILE                  the model set (default ./models.json)
  --models-dir DIR               model cache (default $MODELS_DIR, /runpod-volume/models
                                 when /runpod-volume exists, else ./models)
  --download-only                fetch and verify the models of --models, then exit
  --device auto|cpu|cuda         where to run (default: cuda when available)
  --dtype auto|fp32|bf16|fp16    weight precision (default: fp16 on CUDA, fp32 on CPU)
  --rp_log_level LEVEL           ERROR, WARN, INFO, DEBUG or TRACE (default $RUNPOD_LOG_LEVEL
                                 or INFO); logs go to stderr
  --version                      print the version and exit
  --help                         print this help and exit

Options take their value as "--flag value" or "--flag=value".
Environment: RUNPOD_WEBHOOK_GET_JOB, RUNPOD_WEBHOOK_POST_OUTPUT, RUNPOD_WEBHOOK_PING,
RUNPOD_POD_ID, RUNPOD_AI_API_KEY, RUNPOD_PING_INTERVAL, RUNPOD_LOG_LEVEL, MODELS_DIR,
CIVITAI_API_KEY, CIVITAI_HOSTS.
)";
}

Mode select_mode(const CliOptions& options, const EnvLookup& env) {
  if (options.serve_api) return Mode::local_api;
  if (options.test_input || !env("RUNPOD_WEBHOOK_GET_JOB")) return Mode::local;
  return Mode::serverless;
}

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::local: return "local";
    case Mode::local_api: return "local API";
    case Mode::serverless: return "serverless";
  }
  return "unknown";
}

}  // namespace sdxlw
