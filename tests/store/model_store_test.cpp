#include "store/model_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "io/file_util.h"
#include "io/sha256.h"
#include "support/fake_civitai.h"
#include "store/log_capture.h"
#include "store/verified_record.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

namespace fs = std::filesystem;
using test::FakeCivitai;
using test::FakeFile;
using test::Serve;

constexpr const char* kKey = "test-key-123";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class Store : public ::testing::Test {
 protected:
  StoreOptions options(const std::string& key = kKey) const {
    StoreOptions o;
    o.models_dir = dir.path().string();
    o.civitai_api_key = key;
    o.civitai_hosts = {"civitai.com", fake.api_authority()};
    o.max_attempts = 4;
    o.retry_initial_delay_s = 0.01;
    o.retry_max_delay_s = 0.04;
    o.connect_timeout_s = 5;
    o.low_speed_timeout_s = 10;
    o.api_timeout_s = 10;
    o.progress_interval_s = 0.05;
    return o;
  }

  // A models.json with only a checkpoint.
  static ModelsConfig checkpoint_only(const std::string& filename, const std::string& url, const std::string& sha) {
    ModelsConfig c;
    c.checkpoint = {"base", filename, url, sha, std::nullopt};
    c.source = "test models.json";
    return c;
  }

  std::string path(const std::string& name) const { return (dir.path() / name).string(); }
  bool exists(const std::string& name) const { return fs::exists(dir.path() / name); }

  std::string ensure_error(const ModelsConfig& c, const StoreOptions& o) const {
    try {
      ensure_models(c, o);
    } catch (const std::runtime_error& e) {
      ::testing::Test::RecordProperty("error", e.what());  // shown in --gtest_output=xml reports
      return e.what();
    }
    return "";
  }

  FakeFile add(const std::string& id, const std::string& name, size_t size, Serve mode = Serve::Normal,
               int failures = 0) {
    FakeFile f{id, name, test::pseudo_random_bytes(size, static_cast<uint32_t>(std::stoul(id))), mode, failures, true};
    fake.add(f);
    return f;
  }

  test::TempDir dir;
  FakeCivitai fake{kKey};
};

TEST_F(Store, DownloadsThroughTheSignedRedirectWithTheHashFromModelsJson) {
  const FakeFile f = add("101", "base.safetensors", 300000);
  test::LogCapture log;
  const ModelFiles files =
      ensure_models(checkpoint_only("base.safetensors", fake.download_url("101"), sha256_hex(f.body)), options());

  EXPECT_EQ(files.checkpoint_name, "base");
  EXPECT_EQ(files.checkpoint_path, path("base.safetensors"));
  EXPECT_EQ(read_file(path("base.safetensors")), f.body);
  EXPECT_FALSE(exists("base.safetensors.part"));
  EXPECT_EQ(trusted_sha256(path("base.safetensors")), sha256_hex(f.body));
  EXPECT_EQ(fake.downloads("101"), 1);
  EXPECT_EQ(fake.version_lookups("101"), 0);  // the hash came from models.json
  for (const auto& r : fake.seen()) {
    if (r.host == "api") {
      EXPECT_EQ(r.authorization, std::string("Bearer ") + kKey) << r.path;
    } else {
      EXPECT_EQ(r.authorization, "") << r.path;
    }
  }
  EXPECT_FALSE(contains(log.text(), "sig-secret")) << "a signed URL leaked into the log";
  EXPECT_TRUE(contains(log.text(), "0 cached, 0 verified, 1 fetched")) << log.text();
}

TEST_F(Store, TakesTheHashFromTheModelVersionApiWhenModelsJsonHasNone) {
  const FakeFile f = add("102", "lora.safetensors", 50000);
  ModelsConfig c = checkpoint_only("ck.safetensors", fake.download_url("102"), "");
  ensure_models(c, options());
  EXPECT_EQ(fake.version_lookups("102"), 1);
  EXPECT_EQ(fake.downloads("102"), 1);
  EXPECT_EQ(read_verified_record(path("ck.safetensors"))->sha256, sha256_hex(f.body));
}

TEST_F(Store, VersionApiHashCatchesAWrongBody) {
  add("103", "m.safetensors", 40000, Serve::WrongBody);
  const std::string msg = ensure_error(checkpoint_only("m.safetensors", fake.download_url("103"), ""), options());
  EXPECT_TRUE(contains(msg, "SHA-256 mismatch")) << msg;
}

TEST_F(Store, Answers401WithoutAKeyTellingToSetCivitaiApiKey) {
  const FakeFile f = add("104", "m.safetensors", 1000);
  for (const std::string& sha : {sha256_hex(f.body), std::string()}) {  // download first / version lookup first
    const std::string msg = ensure_error(checkpoint_only("m.safetensors", fake.download_url("104"), sha), options(""));
    EXPECT_TRUE(contains(msg, "401")) << msg;
    EXPECT_TRUE(contains(msg, "set CIVITAI_API_KEY")) << msg;
    EXPECT_TRUE(contains(msg, "model version 104")) << msg;
  }
  EXPECT_FALSE(exists("m.safetensors"));
  EXPECT_EQ(fake.downloads("104"), 0);
}

TEST_F(Store, NeverSendsTheKeyToAHostMissingFromCivitaiHosts) {
  const FakeFile f = add("105", "m.safetensors", 1000);
  StoreOptions o = options();
  o.civitai_hosts = {"civitai.com"};
  const std::string msg = ensure_error(checkpoint_only("m.safetensors", fake.download_url("105"), sha256_hex(f.body)), o);
  EXPECT_TRUE(contains(msg, "CIVITAI_API_KEY is only sent to the hosts in CIVITAI_HOSTS")) << msg;
  for (const auto& r : fake.seen()) EXPECT_EQ(r.authorization, "") << r.path;
}

TEST_F(Store, RejectedKeyIsReported) {
  const FakeFile f = add("106", "m.safetensors", 1000);
  const std::string msg =
      ensure_error(checkpoint_only("m.safetensors", fake.download_url("106"), sha256_hex(f.body)), options("wrong"));
  EXPECT_TRUE(contains(msg, "the CIVITAI_API_KEY sent was refused")) << msg;
}

TEST_F(Store, UnknownModelVersionIsNamed) {
  for (const std::string& sha : {std::string(64, 'a'), std::string()}) {
    const std::string msg = ensure_error(checkpoint_only("m.safetensors", fake.download_url("999"), sha), options());
    EXPECT_TRUE(contains(msg, "404")) << msg;
    EXPECT_TRUE(contains(msg, "no model version 999")) << msg;
  }
  EXPECT_FALSE(exists("m.safetensors.part"));  // an empty part is not left behind
}

TEST_F(Store, ResumesFromTheRightByteAfterADroppedConnection) {
  const FakeFile f = add("107", "m.safetensors", 200001, Serve::DropHalfOnce);
  test::LogCapture log;
  ensure_models(checkpoint_only("m.safetensors", fake.download_url("107"), sha256_hex(f.body)), options());
  EXPECT_EQ(read_file(path("m.safetensors")), f.body);
  const auto ranges = fake.ranges("107");
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=" + std::to_string(200001 / 2) + "-");
  EXPECT_TRUE(contains(log.text(), "retry 1/3")) << log.text();
}

TEST_F(Store, WrongBodyIsDeletedWithExpectedAndActualHash) {
  const FakeFile f = add("108", "m.safetensors", 30000, Serve::WrongBody);
  std::string wrong = f.body;
  for (auto& c : wrong) c = static_cast<char>(~c);
  const std::string msg =
      ensure_error(checkpoint_only("m.safetensors", fake.download_url("108"), sha256_hex(f.body)), options());
  EXPECT_TRUE(contains(msg, "expected " + sha256_hex(f.body) + ", got " + sha256_hex(wrong))) << msg;
  EXPECT_FALSE(exists("m.safetensors"));
  EXPECT_FALSE(exists("m.safetensors.part"));
  EXPECT_FALSE(exists("m.safetensors.sha256.json"));
}

TEST_F(Store, SlowDownloadLogsProgressAndCompletes) {
  const FakeFile f = add("109", "slow.safetensors", 64 * 1024, Serve::Slow);
  test::LogCapture log;
  ensure_models(checkpoint_only("slow.safetensors", fake.download_url("109"), sha256_hex(f.body)), options());
  EXPECT_EQ(read_file(path("slow.safetensors")), f.body);
  const std::string text = log.text();
  int lines = 0;
  for (size_t pos = 0; (pos = text.find("store: downloading slow.safetensors ", pos)) != std::string::npos; ++pos) {
    ++lines;
  }
  EXPECT_GE(lines, 2) << text;
  EXPECT_TRUE(contains(text, "/65.5 kB")) << text;
  EXPECT_TRUE(contains(text, "MB/s ETA ")) << text;
  EXPECT_TRUE(contains(text, "store: downloaded slow.safetensors (65.5 kB)")) << text;
}

TEST_F(Store, ServerErrorsAreRetriedWithBackOff) {
  const FakeFile f = add("110", "m.safetensors", 10000, Serve::FailFirst, 2);
  ensure_models(checkpoint_only("m.safetensors", fake.download_url("110"), sha256_hex(f.body)), options());
  EXPECT_EQ(fake.downloads("110"), 3);
  EXPECT_EQ(read_file(path("m.safetensors")), f.body);
}

TEST_F(Store, GivesUpAfterMaxAttemptsOfServerErrors) {
  const FakeFile f = add("111", "m.safetensors", 10000, Serve::FailFirst, 100);
  const std::string msg =
      ensure_error(checkpoint_only("m.safetensors", fake.download_url("111"), sha256_hex(f.body)), options());
  EXPECT_TRUE(contains(msg, "after 4 failed attempts")) << msg;
  EXPECT_TRUE(contains(msg, "answered 500")) << msg;
  EXPECT_EQ(fake.downloads("111"), 4);
}

TEST_F(Store, UnreachableHostIsRetriedThenReported) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test::closed_port()) + "/api/download/models/5";
  const std::string msg = ensure_error(checkpoint_only("m.safetensors", url, std::string(64, 'a')), options());
  EXPECT_TRUE(contains(msg, "after 4 failed attempts")) << msg;
  EXPECT_TRUE(contains(msg, "model version 5")) << msg;
}

TEST_F(Store, CachedFilesStartWithoutAnyNetwork) {
  const FakeFile a = add("112", "a.safetensors", 20000);
  const FakeFile b = add("113", "b.safetensors", 20000);
  ModelsConfig c = checkpoint_only("a.safetensors", fake.download_url("112"), "");
  c.loras.push_back({"B", "b.safetensors", fake.download_url("113"), "", 0.75});
  ensure_models(c, options());
  const size_t requests = fake.request_count();

  // Same files, URLs now pointing at a port nobody listens on.
  const std::string dead = "http://127.0.0.1:" + std::to_string(test::closed_port()) + "/api/download/models/";
  c.checkpoint.url = dead + "112";
  c.loras[0].url = dead + "113";
  test::LogCapture log;
  const ModelFiles files = ensure_models(c, options());
  EXPECT_EQ(fake.request_count(), requests);
  ASSERT_EQ(files.loras.size(), 1u);
  EXPECT_EQ(files.loras[0].name, "B");
  EXPECT_EQ(files.loras[0].path, path("b.safetensors"));
  EXPECT_DOUBLE_EQ(files.loras[0].default_scale, 0.75);
  EXPECT_TRUE(contains(log.text(), "2 cached, 0 verified, 0 fetched")) << log.text();

  StoreOptions offline = options();
  offline.allow_network = false;
  EXPECT_NO_THROW(ensure_models(c, offline));
}

TEST_F(Store, SecondRunDownloadsNothing) {
  const FakeFile f = add("114", "m.safetensors", 5000);
  const ModelsConfig c = checkpoint_only("m.safetensors", fake.download_url("114"), "");
  ensure_models(c, options());
  const size_t requests = fake.request_count();
  ensure_models(c, options());
  EXPECT_EQ(fake.request_count(), requests);
  EXPECT_EQ(fake.downloads("114"), 1);
}

// Gives the file a different mtime, as an edit or a copy would.
void touch_later(const std::string& p) {
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  times[1].tv_sec += 10;
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
}

TEST_F(Store, ModifiedCachedFileIsVerifiedAgainAndReplaced) {
  const FakeFile f = add("115", "m.safetensors", 8000);
  const ModelsConfig c = checkpoint_only("m.safetensors", fake.download_url("115"), sha256_hex(f.body));
  ensure_models(c, options());
  std::string damaged = f.body;
  damaged[100] = static_cast<char>(damaged[100] ^ 1);
  write_file(path("m.safetensors"), damaged);
  touch_later(path("m.safetensors"));
  test::LogCapture log;
  ensure_models(c, options());
  EXPECT_EQ(read_file(path("m.safetensors")), f.body);
  EXPECT_EQ(fake.downloads("115"), 2);
  EXPECT_TRUE(contains(log.text(), "replacing it with a fresh download")) << log.text();
}

TEST_F(Store, TouchedButIntactFileIsReHashedWithoutNetwork) {
  const FakeFile f = add("116", "m.safetensors", 8000);
  const ModelsConfig c = checkpoint_only("m.safetensors", fake.download_url("116"), sha256_hex(f.body));
  ensure_models(c, options());
  touch_later(path("m.safetensors"));
  EXPECT_FALSE(trusted_sha256(path("m.safetensors")));
  const size_t requests = fake.request_count();
  test::LogCapture log;
  ensure_models(c, options());
  EXPECT_EQ(fake.request_count(), requests);
  EXPECT_TRUE(contains(log.text(), "0 cached, 1 verified, 0 fetched")) << log.text();
  EXPECT_EQ(trusted_sha256(path("m.safetensors")), sha256_hex(f.body));  // the record follows the new mtime
}

TEST_F(Store, FileWithoutUrlMustBeInTheModelsDir) {
  const std::string msg = ensure_error(checkpoint_only("absent.safetensors", "", ""), options());
  EXPECT_TRUE(contains(msg, "absent.safetensors is not in the models dir \"" + dir.path().string() + "\"")) << msg;
  EXPECT_TRUE(contains(msg, "no url")) << msg;
}

TEST_F(Store, ProvidedFileWithoutUrlIsHashedOnceThenTrusted) {
  fs::copy_file(test::fixture("lora_a.safetensors"), dir.path() / "lora_a.safetensors");
  const std::string sha = "e8ac88882ac3f724cd088f7d041f76260b07ba575a2e9b1aa94e47d7cd5dfd5b";
  const ModelsConfig c = checkpoint_only("lora_a.safetensors", "", sha);
  {
    test::LogCapture log;
    ensure_models(c, options());
    EXPECT_TRUE(contains(log.text(), "0 cached, 1 verified, 0 fetched")) << log.text();
  }
  test::LogCapture log;
  ensure_models(c, options());
  EXPECT_TRUE(contains(log.text(), "1 cached, 0 verified, 0 fetched")) << log.text();
}

TEST_F(Store, ProvidedFileWithTheWrongHashIsAnErrorAndKept) {
  write_file(path("mine.safetensors"), "not the model");
  const std::string want(64, 'b');
  const std::string msg = ensure_error(checkpoint_only("mine.safetensors", "", want), options());
  EXPECT_TRUE(contains(msg, "has SHA-256 " + sha256_hex("not the model") + ", expected " + want)) << msg;
  EXPECT_TRUE(exists("mine.safetensors"));
}

TEST_F(Store, UnwritableLockAndRecordOnlyCostAWarning) {
  fs::copy_file(test::fixture("lora_a.safetensors"), dir.path() / "lora_a.safetensors");
  fs::create_directory(dir.path() / "lora_a.safetensors.lock");           // cannot be opened for writing
  fs::create_directory(dir.path() / "lora_a.safetensors.sha256.json.tmp");  // the record cannot be written
  const ModelsConfig c =
      checkpoint_only("lora_a.safetensors", "", "e8ac88882ac3f724cd088f7d041f76260b07ba575a2e9b1aa94e47d7cd5dfd5b");
  test::LogCapture log;
  EXPECT_NO_THROW(ensure_models(c, options()));
  EXPECT_TRUE(contains(log.text(), "going on without the lock")) << log.text();
  EXPECT_TRUE(contains(log.text(), "will be hashed again at the next start")) << log.text();
  EXPECT_FALSE(exists("lora_a.safetensors.sha256.json"));
}

TEST_F(Store, MissingFileWithNetworkOffIsAnError) {
  add("117", "m.safetensors", 100);
  StoreOptions o = options();
  o.allow_network = false;
  const std::string msg = ensure_error(checkpoint_only("m.safetensors", fake.download_url("117"), ""), o);
  EXPECT_TRUE(contains(msg, "downloads are off")) << msg;
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(Store, StalePartFromADeadProcessIsResumed) {
  const FakeFile f = add("118", "m.safetensors", 90000);
  write_file(path("m.safetensors.part"), f.body.substr(0, 30000));
  ensure_models(checkpoint_only("m.safetensors", fake.download_url("118"), sha256_hex(f.body)), options());
  EXPECT_EQ(read_file(path("m.safetensors")), f.body);
  EXPECT_EQ(fake.ranges("118"), std::vector<std::string>{"bytes=30000-"});
  EXPECT_FALSE(exists("m.safetensors.part"));
}

TEST_F(Store, CorruptStalePartIsNotTrustedAndRestartsFromScratch) {
  const FakeFile f = add("119", "m.safetensors", 90000);
  write_file(path("m.safetensors.part"), std::string(30000, 'x'));
  test::LogCapture log;
  ensure_models(checkpoint_only("m.safetensors", fake.download_url("119"), sha256_hex(f.body)), options());
  EXPECT_EQ(read_file(path("m.safetensors")), f.body);
  EXPECT_EQ(fake.ranges("119"), (std::vector<std::string>{"bytes=30000-", ""}));
  EXPECT_TRUE(contains(log.text(), "downloading it again from the start")) << log.text();
}

TEST_F(Store, CompletePartIsVerifiedWithoutTransferringItAgain) {
  const FakeFile f = add("120", "m.safetensors", 5000);
  write_file(path("m.safetensors.part"), f.body);
  ensure_models(checkpoint_only("m.safetensors", fake.download_url("120"), sha256_hex(f.body)), options());
  EXPECT_EQ(read_file(path("m.safetensors")), f.body);
  EXPECT_EQ(fake.ranges("120"), std::vector<std::string>{"bytes=5000-"});  // answered 416
}

TEST_F(Store, ServerIgnoringRangeRestartsTheFileFromByteZero) {
  const FakeFile f = add("121", "m.safetensors", 70000, Serve::IgnoreRange);
  write_file(path("m.safetensors.part"), f.body.substr(0, 20000));
  ensure_models(checkpoint_only("m.safetensors", fake.download_url("121"), sha256_hex(f.body)), options());
  EXPECT_EQ(read_file(path("m.safetensors")), f.body);
  EXPECT_EQ(fake.downloads("121"), 1);
}

TEST_F(Store, TooLittleDiskSpaceNamesTheDirectoryAndTheBytesNeeded) {
  add("122", "huge.safetensors", 10, Serve::HugeLength);
  const std::string msg =
      ensure_error(checkpoint_only("huge.safetensors", fake.download_url("122"), std::string(64, 'a')), options());
  EXPECT_TRUE(contains(msg, "not enough disk space in \"" + dir.path().string() + "\"")) << msg;
  EXPECT_TRUE(contains(msg, "needs " + std::to_string(test::kHugeLength) + " more bytes")) << msg;
  EXPECT_FALSE(exists("huge.safetensors"));
  EXPECT_EQ(fake.downloads("122"), 1);  // not retried
}

TEST_F(Store, DiskFillingUpWhileWritingNamesTheDirectory) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const FakeFile f = add("123", "m.safetensors", 50000);
  fs::create_symlink("/dev/full", dir.path() / "m.safetensors.part");  // every write fails with ENOSPC
  const std::string msg =
      ensure_error(checkpoint_only("m.safetensors", fake.download_url("123"), sha256_hex(f.body)), options());
  EXPECT_TRUE(contains(msg, "the disk filled up")) << msg;
  EXPECT_TRUE(contains(msg, "not enough disk space in \"" + dir.path().string() + "\"")) << msg;
  EXPECT_TRUE(contains(msg, "needs 50000 more bytes")) << msg;
  EXPECT_FALSE(exists("m.safetensors"));
}

}  // namespace
}  // namespace sdxlw
