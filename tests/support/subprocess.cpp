#include "support/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/paths.h"

extern char** environ;

namespace sdxlw::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> child_environment(const SpawnOptions& options) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = kv.substr(0, eq);
    bool dropped = false;
    for (const auto& prefix : options.remove_env_prefixes) dropped = dropped || name.rfind(prefix, 0) == 0;
    if (!dropped) vars[name] = kv.substr(eq + 1);
  }
  for (const auto& [name, value] : options.env) {
    if (value) {
      vars[name] = *value;
    } else {
      vars.erase(name);
    }
  }
  std::vector<std::string> out;
  for (const auto& [name, value] : vars) out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Owns the posix_spawn attribute objects.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

Subprocess::Subprocess(const std::filesystem::path& program, SpawnOptions options) {
  stdout_path_ = options.stdout_path;
  stderr_path_ = options.stderr_path;
  if (stdout_path_.empty() || stderr_path_.empty()) {
    scratch_ = std::make_unique<TempDir>();
    if (stdout_path_.empty()) stdout_path_ = scratch_->path() / "stdout.txt";
    if (stderr_path_.empty()) stderr_path_ = scratch_->path() / "stderr.txt";
  }

  std::vector<std::string> env_strings = child_environment(options);
  std::vector<std::string> argv_strings = {program.string()};
  argv_strings.insert(argv_strings.end(), options.args.begin(), options.args.end());
  std::vector<char*> envp = pointers(env_strings);
  std::vector<char*> argv = pointers(argv_strings);

  SpawnSetup setup;
  const std::string out_path = stdout_path_.string(), err_path = stderr_path_.string();
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&setup.actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&setup.actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Nothing else of this process (the fake servers' sockets, open files) leaks into the child.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
#endif
  const std::string cwd = options.cwd.string();
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&setup.actions, cwd.c_str());
  // The child starts with default handling of the signals a test sends or a server ignores.
  sigset_t defaults, none;
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGQUIT}) sigaddset(&defaults, s);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  const int rc = posix_spawn(&pid_, argv[0], &setup.actions, &setup.attr, argv.data(), envp.data());
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + program.string() + ": " + std::strerror(rc));
  }
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !ended_) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
}

bool Subprocess::reap(bool block) {
  if (ended_) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != pid_) return false;
  ended_ = true;
  if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) term_signal_ = WTERMSIG(status);
  return true;
}

bool Subprocess::running() { return !reap(false); }

bool Subprocess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (reap(false)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool Subprocess::wait_or_kill(std::chrono::milliseconds timeout) {
  if (wait(timeout)) return true;
  kill();
  return false;
}

void Subprocess::send_signal(int signal) {
  if (!ended_) ::kill(pid_, signal);
}

void Subprocess::kill() {
  if (ended_) return;
  ::kill(pid_, SIGKILL);
  reap(true);
}

std::string Subprocess::status_text() const {
  if (!ended_) return "running";
  if (term_signal_) return "killed by signal " + std::to_string(term_signal_);
  return "exit " + std::to_string(exit_code_);
}

std::string Subprocess::out() const { return read_text(stdout_path_); }
std::string Subprocess::err() const { return read_text(stderr_path_); }

bool Subprocess::wait_for_err(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const bool ended = !running();
    if (err().find(text) != std::string::npos) return true;
    if (ended || Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

ProcessResult run_process(const std::filesystem::path& program, SpawnOptions options,
                          std::chrono::milliseconds timeout) {
  Subprocess process(program, std::move(options));
  ProcessResult result;
  result.timed_out = !process.wait_or_kill(timeout);
  result.exit_code = process.exit_code();
  result.term_signal = process.term_signal();
  result.out = process.out();
  result.err = process.err();
  return result;
}

}  // namespace sdxlw::test
