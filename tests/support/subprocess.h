#pragma once
// A child process for the integration tests (posix_spawn): arguments, an environment derived
// from this process's, a working directory, stdout and stderr captured in files (readable while
// it runs), waits with a timeout, signals. The owner kills and reaps a child still running when
// it dies, so a failed assertion never leaves a worker behind. Torch-free.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sdxlw::test {

class TempDir;

struct SpawnOptions {
  std::vector<std::string> args;  // after argv[0]
  // Variables whose names start with one of these are dropped from this process's environment
  // first; then `env` applies: a value sets the variable, nullopt removes it.
  std::vector<std::string> remove_env_prefixes;
  std::map<std::string, std::optional<std::string>> env;
  std::filesystem::path cwd;  // empty: this process's
  // Where stdout and stderr go; empty: a file in a temp dir owned by the Subprocess.
  std::filesystem::path stdout_path;
  std::filesystem::path stderr_path;
};

class Subprocess {
 public:
  // Starts `program` (stdin from /dev/null, default signal handling); throws std::runtime_error
  // naming the program when it cannot be started.
  explicit Subprocess(const std::filesystem::path& program, SpawnOptions options = {});
  ~Subprocess();  // SIGKILL and reap, when still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Waits up to `timeout` for the process to end; returns whether it has.
  bool wait(std::chrono::milliseconds timeout);
  // As wait(), but a process still running after `timeout` is killed; returns whether it ended
  // by itself.
  bool wait_or_kill(std::chrono::milliseconds timeout);
  void send_signal(int signal);
  void kill();

  int exit_code() const { return exit_code_; }      // -1 unless it exited normally
  int term_signal() const { return term_signal_; }  // the signal that ended it; 0 when none
  std::string status_text() const;                  // "running", "exit 1", "killed by signal 9"

  std::string out() const;  // stdout so far
  std::string err() const;  // stderr so far
  // Waits up to `timeout` until stderr contains `text`; false as soon as the process has ended
  // without writing it.
  bool wait_for_err(const std::string& text, std::chrono::milliseconds timeout);

 private:
  bool reap(bool block);

  std::unique_ptr<TempDir> scratch_;
  std::filesystem::path stdout_path_, stderr_path_;
  pid_t pid_ = -1;
  bool ended_ = false;
  int exit_code_ = -1;
  int term_signal_ = 0;
};

struct ProcessResult {
  int exit_code = -1;   // -1 unless it exited normally
  int term_signal = 0;  // the signal that ended it; 0 when none
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs `program` to its end, killing it after `timeout`.
ProcessResult run_process(const std::filesystem::path& program, SpawnOptions options,
                          std::chrono::milliseconds timeout = std::chrono::minutes(5));

}  // namespace sdxlw::test
