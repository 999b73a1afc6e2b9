// sdxl-worker: command line → logging and signals → models.json → store → engine → mode.

#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "app/cli.h"
#include "core/engine_factory.h"
#include "runpod/job_handler.h"
#include "runpod/local_api.h"
#include "runpod/local_mode.h"
#include "runpod/runpod_env.h"
#include "runpod/serverless_worker.h"
#include "store/model_store.h"
#include "store/models_config.h"
#include "util/log.h"
#include "util/version.h"

namespace {

using namespace sdxlw;

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_stop_signal(int) { g_stop.store(true); }

// SIGTERM / SIGINT ask for a graceful stop; a second one ends the process at once (the handler
// resets itself to the default action).
void install_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

JobValidationContext validation_context(const ModelsConfig& models) {
  JobValidationContext context;
  for (const auto& lora : models.loras) context.known_loras.push_back({lora.name, lora.scale.value_or(1.0)});
  return context;
}

ModelFiles fetch_models(const CliOptions& cli, const ModelsConfig& models) {
  return ensure_models(models, store_options_from_env(resolve_models_dir(cli.models_dir)));
}

std::unique_ptr<ImageGenerator> load_engine(const CliOptions& cli, const ModelsConfig& models,
                                            bool warmup,
                                            std::optional<std::vector<LoraChoice>> initial_loras = std::nullopt) {
  ModelFiles files = fetch_models(cli, models);
  EngineOptions options;
  options.device = cli.device;
  options.dtype = cli.dtype;
  options.warmup = warmup;
  options.initial_loras = std::move(initial_loras);
  return create_engine(files, options);
}

std::string initial_log_level(const CliOptions& cli, const EnvLookup& env) {
  if (!cli.log_level.empty()) return cli.log_level;
  if (auto level = env("RUNPOD_LOG_LEVEL")) return *level;
  if (auto level = env("RUNPOD_DEBUG_LEVEL")) return *level;
  return "info";
}

// Owns a duplicated file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

int run_local_mode(const CliOptions& cli) {
  LocalRunOptions options;
  options.test_input = cli.test_input;
  options.output_dir = cli.output_dir;
  std::shared_ptr<ModelsConfig> models;
  LocalRunHooks hooks;
  hooks.prepare = [&] {
    models = std::make_shared<ModelsConfig>(load_models_config(cli.models_file));
    return validation_context(*models);
  };
  hooks.load_engine = [&](const GenerationRequest& request) {
    return load_engine(cli, *models, /*warmup=*/false, request.loras);
  };

  // Only the JSON document may reach stdout: anything a library prints meanwhile goes to stderr.
  std::cout.flush();
  std::fflush(stdout);
  Fd result_fd(dup(STDOUT_FILENO));
  if (result_fd.get() >= 0) dup2(STDERR_FILENO, STDOUT_FILENO);
  std::ostringstream document;
  int code = run_local(options, hooks, document);
  std::cout.flush();
  std::fflush(stdout);
  write_all(result_fd.get() >= 0 ? result_fd.get() : STDOUT_FILENO, document.str());
  return code;
}

int run_service(const CliOptions& cli, Mode mode, const EnvLookup& env) {
  install_stop_signals();
  std::unique_ptr<ServerlessConfig> serverless;
  if (mode == Mode::serverless) serverless = std::make_unique<ServerlessConfig>(serverless_config(read_runpod_env(env)));
  ModelsConfig models = load_models_config(cli.models_file);
  auto engine = load_engine(cli, models, /*warmup=*/true);
  if (g_stop.load()) {
    spdlog::info("stop requested during start-up; exiting");
    return 0;
  }
  JobHandler handler(*engine, validation_context(models));
  if (mode == Mode::serverless) return run_serverless(*serverless, handler, g_stop);
  LocalApiOptions options;
  options.host = cli.api_host;
  options.port = cli.api_port;
  return run_local_api(handler, options, g_stop);
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not end the worker
  CliOptions cli;
  try {
    cli = parse_cli(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const CliError& e) {
    std::fprintf(stderr, "sdxl-worker: %s\n\n%s", e.what(), usage().c_str());
    return 2;
  }
  if (cli.help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (cli.version) {
    std::printf("sdxl-worker %s\n", kVersion);
    return 0;
  }

  EnvLookup env = process_env();
  init_logging(initial_log_level(cli, env));

  if (cli.download_only) {
    try {
      ModelFiles files = fetch_models(cli, load_models_config(cli.models_file));
      spdlog::info("store: {} and {} LoRA(s) are present", files.checkpoint_path, files.loras.size());
      return 0;
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return 1;
    }
  }

  Mode mode = select_mode(cli, env);
  spdlog::info("sdxl-worker {} starting in {} mode", kVersion, mode_name(mode));
  if (mode == Mode::local) return run_local_mode(cli);
  try {
    return run_service(cli, mode, env);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
