// The process helper the integration tests run the worker with (tests/support/subprocess.h),
// on /bin/sh: arguments, environment, working directory, captured output, exit status, signals,
// timeouts, and no child left behind.

#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>

#include "support/paths.h"
#include "support/subprocess.h"

namespace sdxlw::test {
namespace {

using namespace std::chrono_literals;

SpawnOptions shell(const std::string& script) {
  SpawnOptions options;
  options.args = {"-c", script};
  return options;
}

TEST(Subprocess, CapturesStdoutStderrAndTheExitCode) {
  const ProcessResult r = run_process("/bin/sh", shell("printf 'out\\n'; printf 'err' >&2; exit 3"), 30s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err");
}

TEST(Subprocess, AppliesEnvironmentChangesAndTheWorkingDirectory) {
  TempDir dir;
  ::setenv("SDXLW_SUBPROCESS_TEST_DROPPED", "1", 1);
  ::setenv("SDXLW_SUBPROCESS_TEST_REMOVED", "1", 1);
  SpawnOptions options = shell(
      "echo \"${SDXLW_SUBPROCESS_TEST_DROPPED-unset} ${SDXLW_SUBPROCESS_TEST_REMOVED-unset} $NEW_VAR $(pwd -P)\"");
  options.remove_env_prefixes = {"SDXLW_SUBPROCESS_TEST_D"};
  options.env = {{"SDXLW_SUBPROCESS_TEST_REMOVED", std::nullopt}, {"NEW_VAR", "a b"}};
  options.cwd = dir.path();
  const ProcessResult r = run_process("/bin/sh", options, 30s);
  ::unsetenv("SDXLW_SUBPROCESS_TEST_DROPPED");
  ::unsetenv("SDXLW_SUBPROCESS_TEST_REMOVED");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "unset unset a b " + std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(Subprocess, WritesOutputToGivenFilesReadableWhileItRuns) {
  TempDir dir;
  SpawnOptions options = shell("echo started >&2; exec sleep 30");
  options.stdout_path = dir / "out.txt";
  options.stderr_path = dir / "err.txt";
  Subprocess p("/bin/sh", options);
  ASSERT_TRUE(p.wait_for_err("started", 30s));
  EXPECT_TRUE(p.running());
  EXPECT_EQ(p.status_text(), "running");
  p.send_signal(SIGTERM);
  ASSERT_TRUE(p.wait(30s));
  EXPECT_EQ(p.term_signal(), SIGTERM);
  EXPECT_EQ(p.exit_code(), -1);
  EXPECT_EQ(p.status_text(), "killed by signal 15");
}

TEST(Subprocess, WaitForErrGivesUpWhenTheProcessEndsWithoutTheText) {
  Subprocess p("/bin/sh", shell("echo something else >&2"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(p.wait_for_err("never written", 30s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  EXPECT_EQ(p.exit_code(), 0);
}

TEST(Subprocess, ProcessPastItsTimeoutIsKilled) {
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult r = run_process("/bin/sh", shell("exec sleep 30"), 300ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
}

TEST(Subprocess, OwnerKillsAndReapsAChildStillRunning) {
  pid_t pid = -1;
  {
    Subprocess p("/bin/sh", shell("exec sleep 30"));
    pid = p.pid();
    ASSERT_GT(pid, 0);
  }
  // Reaped already: the pid is no child of this process any more.
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(Subprocess, MissingProgramIsAnErrorNamingIt) {
  try {
    Subprocess p("/nonexistent/sdxl-worker");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/sdxl-worker"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sdxlw::test
