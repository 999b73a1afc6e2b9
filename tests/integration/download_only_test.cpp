// `sdxl-worker --download-only` against the fake Civitai: it fills the models dir and exits 0,
// and a second run finds everything cached and makes no request at all.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/file_util.h"
#include "io/sha256.h"
#include "support/fake_civitai.h"
#include "support/paths.h"

extern char** environ;

namespace sdxlw {
namespace {

using test::FakeCivitai;
using test::FakeFile;

struct RunResult {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs the worker executable with `args` and the current environment changed by `env`
// (an empty value removes the variable); stdout and stderr are collected through files.
RunResult run_worker(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                     const test::TempDir& scratch) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) {
    if (v.empty()) {
      vars.erase(k);
    } else {
      vars[k] = v;
    }
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings = {SDXLW_WORKER_EXE};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const std::string out_path = (scratch.path() / "stdout.txt").string();
  const std::string err_path = (scratch.path() / "stderr.txt").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  RunResult result;
  if (rc != 0) {
    result.stderr_text = std::string("posix_spawn failed: ") + std::strerror(rc);
    return result;
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.stdout_text = read_file(out_path);
  result.stderr_text = read_file(err_path);
  return result;
}

class DownloadOnly : public ::testing::Test {
 protected:
  void SetUp() override {
    ckpt_ = {"301", "ckpt.safetensors", test::pseudo_random_bytes(150000, 301), test::Serve::DropHalfOnce, 0, true};
    lora_ = {"302", "lora.safetensors", test::pseudo_random_bytes(30000, 302), test::Serve::Normal, 0, true};
    fake_.add(ckpt_);
    fake_.add(lora_);
    const nlohmann::json models = {
        {"checkpoint", {{"name", "ckpt"}, {"filename", "ckpt.safetensors"}, {"url", fake_.download_url("301")},
                        {"sha256", sha256_hex(ckpt_.body)}}},
        {"loras",
         {{{"name", "lora"}, {"filename", "lora.safetensors"}, {"url", fake_.download_url("302")}, {"scale", 0.8}}}}};
    models_json_ = (dir_.path() / "models.json").string();
    write_file(models_json_, models.dump(1));
    models_dir_ = (dir_.path() / "cache").string();
  }

  RunResult download_only(const std::string& key) {
    return run_worker({"--download-only", "--models", models_json_, "--models-dir", models_dir_},
                      {{"CIVITAI_API_KEY", key}, {"CIVITAI_HOSTS", fake_.api_authority()}, {"MODELS_DIR", ""}}, dir_);
  }

  test::TempDir dir_;
  FakeCivitai fake_{"secret-key"};
  FakeFile ckpt_, lora_;
  std::string models_json_, models_dir_;
};

TEST_F(DownloadOnly, FillsTheModelsDirThenASecondRunDownloadsNothing) {
  const RunResult first = download_only("secret-key");
  RecordProperty("stderr", first.stderr_text);  // the worker's log, in --gtest_output=xml reports
  ASSERT_EQ(first.exit_code, 0) << first.stderr_text;
  EXPECT_EQ(read_file(models_dir_ + "/ckpt.safetensors"), ckpt_.body);
  EXPECT_EQ(read_file(models_dir_ + "/lora.safetensors"), lora_.body);
  EXPECT_EQ(fake_.downloads("301"), 2);  // dropped halfway once, resumed
  EXPECT_EQ(fake_.ranges("301").back(), "bytes=75000-");
  EXPECT_EQ(fake_.downloads("302"), 1);
  EXPECT_EQ(fake_.version_lookups("302"), 1);
  EXPECT_NE(first.stderr_text.find("2 fetched"), std::string::npos) << first.stderr_text;
  EXPECT_EQ(first.stderr_text.find("secret-key"), std::string::npos) << "the key leaked into the log";

  const size_t requests = fake_.request_count();
  const RunResult second = download_only("secret-key");
  ASSERT_EQ(second.exit_code, 0) << second.stderr_text;
  EXPECT_EQ(fake_.request_count(), requests);
  EXPECT_NE(second.stderr_text.find("2 cached, 0 verified, 0 fetched"), std::string::npos) << second.stderr_text;
}

TEST_F(DownloadOnly, ExitsOneWithTheKeyAdviceWhenCivitaiAnswers401) {
  const RunResult r = download_only("");
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("set CIVITAI_API_KEY"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(fake_.downloads("301"), 0);
}

}  // namespace
}  // namespace sdxlw
