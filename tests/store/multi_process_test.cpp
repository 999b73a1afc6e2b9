#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <string>

#include "io/file_util.h"
#include "io/sha256.h"
#include "support/fake_civitai.h"
#include "store/model_store.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

using test::FakeCivitai;
using test::FakeFile;
using test::Serve;

int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// A worker process: reads its job (models.json text, models dir, key, hosts, log file) from
// `job_fd` as one JSON document, fills the models dir and exits 0, or 1 on an error. Never returns.
[[noreturn]] void run_worker(int job_fd) {
  int status = 1;
  try {
    const auto job = nlohmann::json::parse(read_all(job_fd));
    auto logger = spdlog::basic_logger_mt("worker", job.at("log").get<std::string>(), true);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    StoreOptions options;
    options.models_dir = job.at("models_dir").get<std::string>();
    options.civitai_api_key = job.at("key").get<std::string>();
    options.civitai_hosts = {job.at("host").get<std::string>()};
    options.retry_initial_delay_s = 0.01;
    options.progress_interval_s = 60;
    ensure_models(parse_models_config(job.at("models_json").get<std::string>(), "worker models.json"), options);
    status = 0;
  } catch (const std::exception& e) {
    spdlog::error("worker: {}", e.what());
  }
  ::_exit(status);  // no atexit handlers or destructors of the parent's objects
}

TEST(StoreProcesses, TwoWorkersOnOneModelsDirDownloadEachFileOnce) {
  // The workers are forked while this process has a single thread (before the fake servers
  // start): a child forked beside running threads could inherit a lock held by one of them.
  ASSERT_EQ(thread_count(), 1) << "the test process must be single-threaded here";
  test::TempDir dir;
  int job_pipes[2][2];
  pid_t pids[2];
  for (auto& p : job_pipes) ASSERT_EQ(::pipe(p), 0);
  for (int i = 0; i < 2; ++i) {
    pids[i] = ::fork();
    ASSERT_GE(pids[i], 0);
    if (pids[i] == 0) {
      // Only its own read end stays open: a worker reads its job until EOF.
      for (int j = 0; j < 2; ++j) {
        ::close(job_pipes[j][1]);
        if (j != i) ::close(job_pipes[j][0]);
      }
      run_worker(job_pipes[i][0]);
    }
  }
  for (auto& p : job_pipes) ::close(p[0]);

  FakeCivitai fake("k");
  const FakeFile ckpt{"201", "ckpt.safetensors", test::pseudo_random_bytes(96 * 1024, 201), Serve::Slow, 0, true};
  const FakeFile lora{"202", "lora.safetensors", test::pseudo_random_bytes(40000, 202), Serve::Normal, 0, true};
  fake.add(ckpt);
  fake.add(lora);
  const nlohmann::json models = {
      {"checkpoint", {{"name", "ckpt"}, {"filename", "ckpt.safetensors"}, {"url", fake.download_url("201")},
                      {"sha256", sha256_hex(ckpt.body)}}},
      {"loras", {{{"name", "lora"}, {"filename", "lora.safetensors"}, {"url", fake.download_url("202")}, {"scale", 1.0}}}}};
  const std::string models_dir = (dir.path() / "models").string();
  // Both jobs are written before either worker is waited for, so the two start together.
  for (int i = 0; i < 2; ++i) {
    const nlohmann::json job = {{"models_json", models.dump()},
                                {"models_dir", models_dir},
                                {"key", "k"},
                                {"host", fake.api_authority()},
                                {"log", (dir.path() / ("worker" + std::to_string(i) + ".log")).string()}};
    const std::string text = job.dump();
    ASSERT_EQ(::write(job_pipes[i][1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  for (int i = 0; i < 2; ++i) ::close(job_pipes[i][1]);

  for (int i = 0; i < 2; ++i) {
    int status = 0;
    ASSERT_EQ(::waitpid(pids[i], &status, 0), pids[i]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "worker " << i << " failed:\n" << read_file((dir.path() / ("worker" + std::to_string(i) + ".log")).string());
  }
  EXPECT_EQ(fake.downloads("201"), 1);
  EXPECT_EQ(fake.downloads("202"), 1);
  EXPECT_EQ(fake.version_lookups("202"), 1);  // the LoRA's hash comes from the API, once
  EXPECT_EQ(read_file(models_dir + "/ckpt.safetensors"), ckpt.body);
  EXPECT_EQ(read_file(models_dir + "/lora.safetensors"), lora.body);

  const std::string logs = read_file((dir.path() / "worker0.log").string()) +
                           read_file((dir.path() / "worker1.log").string());
  EXPECT_NE(logs.find("waiting for it"), std::string::npos) << logs;
  EXPECT_NE(logs.find("was prepared by another worker"), std::string::npos) << logs;
}

}  // namespace
}  // namespace sdxlw
