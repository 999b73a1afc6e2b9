// `sdxl-worker --download-only` against the fake Civitai: it fills the models dir and exits 0,
// a second run finds everything cached and makes no request at all, and two workers started
// together on one models dir download each file once.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/worker_harness.h"
#include "io/file_util.h"
#include "io/sha256.h"
#include "support/fake_civitai.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

using test::FakeCivitai;
using test::FakeFile;
using test::ProcessResult;

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

  test::EnvChanges env(const std::string& key) const {
    test::EnvChanges changes = {{"CIVITAI_HOSTS", fake_.api_authority()}};
    if (!key.empty()) changes["CIVITAI_API_KEY"] = key;
    return changes;
  }

  std::vector<std::string> args() const {
    return {"--download-only", "--models", models_json_, "--models-dir", models_dir_};
  }

  ProcessResult download_only(const std::string& key) { return test::run_worker(args(), env(key)); }

  test::TempDir dir_;
  FakeCivitai fake_{"secret-key"};
  FakeFile ckpt_, lora_;
  std::string models_json_, models_dir_;
};

TEST_F(DownloadOnly, FillsTheModelsDirThenASecondRunDownloadsNothing) {
  const ProcessResult first = download_only("secret-key");
  RecordProperty("stderr", first.err);  // the worker's log, in --gtest_output=xml reports
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(read_file(models_dir_ + "/ckpt.safetensors"), ckpt_.body);
  EXPECT_EQ(read_file(models_dir_ + "/lora.safetensors"), lora_.body);
  EXPECT_EQ(fake_.downloads("301"), 2);  // dropped halfway once, resumed
  EXPECT_EQ(fake_.ranges("301").back(), "bytes=75000-");
  EXPECT_EQ(fake_.downloads("302"), 1);
  EXPECT_EQ(fake_.version_lookups("302"), 1);
  EXPECT_NE(first.err.find("2 fetched"), std::string::npos) << first.err;
  EXPECT_EQ(first.err.find("secret-key"), std::string::npos) << "the key leaked into the log";

  const size_t requests = fake_.request_count();
  const ProcessResult second = download_only("secret-key");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(fake_.request_count(), requests);
  EXPECT_NE(second.err.find("2 cached, 0 verified, 0 fetched"), std::string::npos) << second.err;
}

TEST_F(DownloadOnly, ExitsOneWithTheKeyAdviceWhenCivitaiAnswers401) {
  const ProcessResult r = download_only("");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("set CIVITAI_API_KEY"), std::string::npos) << r.err;
  EXPECT_EQ(fake_.downloads("301"), 0);
}

// Two workers started together on one cache dir (a network volume shared by two pods): one
// downloads each file while the other waits on its lock, and both end ready.
TEST(DownloadOnlyProcesses, TwoWorkersStartedTogetherOnOneCacheDirDownloadEachFileOnce) {
  test::TempDir dir;
  FakeCivitai fake("k");
  // Slow enough (about 2 s) that the second worker starts while the first is still downloading.
  const FakeFile ckpt{"401", "ckpt.safetensors", test::pseudo_random_bytes(256 * 1024, 401), test::Serve::Slow, 0,
                      true};
  const FakeFile lora{"402", "lora.safetensors", test::pseudo_random_bytes(40000, 402), test::Serve::Normal, 0, true};
  fake.add(ckpt);
  fake.add(lora);
  const nlohmann::json models = {
      {"checkpoint", {{"name", "ckpt"}, {"filename", "ckpt.safetensors"}, {"url", fake.download_url("401")},
                      {"sha256", sha256_hex(ckpt.body)}}},
      {"loras", {{{"name", "lora"}, {"filename", "lora.safetensors"}, {"url", fake.download_url("402")}, {"scale", 1.0}}}}};
  const std::string models_json = (dir.path() / "models.json").string();
  const std::string models_dir = (dir.path() / "cache").string();
  write_file(models_json, models.dump(1));
  const test::EnvChanges env = {{"CIVITAI_HOSTS", fake.api_authority()}, {"CIVITAI_API_KEY", "k"}};
  const std::vector<std::string> args = {"--download-only", "--models", models_json, "--models-dir", models_dir};

  test::Subprocess first(test::worker_exe(), test::worker_options(args, env));
  test::Subprocess second(test::worker_exe(), test::worker_options(args, env));
  const bool first_ended = first.wait_or_kill(std::chrono::minutes(2));
  const bool second_ended = second.wait_or_kill(std::chrono::minutes(2));
  const std::string logs = "first worker (" + first.status_text() + "):\n" + first.err() + "\nsecond worker (" +
                           second.status_text() + "):\n" + second.err();
  ASSERT_TRUE(first_ended && second_ended) << logs;
  EXPECT_EQ(first.exit_code(), 0) << logs;
  EXPECT_EQ(second.exit_code(), 0) << logs;
  EXPECT_EQ(fake.downloads("401"), 1) << logs;
  EXPECT_EQ(fake.downloads("402"), 1) << logs;
  EXPECT_EQ(fake.version_lookups("402"), 1) << logs;  // the LoRA's hash comes from the API, once
  EXPECT_EQ(read_file(models_dir + "/ckpt.safetensors"), ckpt.body);
  EXPECT_EQ(read_file(models_dir + "/lora.safetensors"), lora.body);
  // The two really overlapped: one of them waited for the other's lock.
  EXPECT_NE(logs.find("waiting for it"), std::string::npos) << logs;
  EXPECT_NE(logs.find("was prepared by another worker"), std::string::npos) << logs;
}

}  // namespace
}  // namespace sdxlw
