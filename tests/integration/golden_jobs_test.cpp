// The real executable in local mode (`--test_input`) on every fixture job: exactly one JSON
// document on stdout whose PNGs match the diffusers reference within 2 levels, and one JSON error
// naming the problem (exit 1) for a missing, a truncated and a non-SDXL checkpoint.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/base64.h"
#include "support/image_compare.h"
#include "support/paths.h"

extern char** environ;

namespace sdxlw {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> kJobs = {"01_euler_64",
                                        "02_euler_a_128x64",
                                        "03_dpmpp_2m_batch2",
                                        "04_dpmpp_2m_karras_64x128",
                                        "05_ddim_empty_negative",
                                        "06_long_prompt_chunks",
                                        "07_lora_a_0.8",
                                        "08_euler_a_batch2_long_negative"};

struct WorkerRun {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr (the log)
};

// Runs sdxl-worker with `args`, the tokenizer vocabulary taken from the source tree and no RunPod
// job URL, collecting stdout and stderr through files in `scratch`.
WorkerRun run_worker(const std::vector<std::string>& args, const fs::path& scratch) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    if (kv.rfind("RUNPOD_", 0) == 0 || kv.rfind("SDXLW_ASSETS_DIR=", 0) == 0 || kv.rfind("MODELS_DIR=", 0) == 0)
      continue;
    env_strings.push_back(kv);
  }
  env_strings.push_back("SDXLW_ASSETS_DIR=" + (test::source_dir() / "assets").string());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings = {SDXLW_WORKER_EXE};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const std::string out_path = (scratch / "stdout.txt").string();
  const std::string err_path = (scratch / "stderr.txt").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  WorkerRun run;
  if (rc != 0) {
    run.err = std::string("posix_spawn failed: ") + std::strerror(rc);
    return run;
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  run.out = test::read_file_bytes(out_path);
  run.err = test::read_file_bytes(err_path);
  return run;
}

// A models dir holding the fixture model set, and a models.json for it. The checkpoint is the
// copy rebuilt from its recipe: same tensors as the shared file, but its header may be formatted
// differently (tests/fixtures/README.md §6), so models.json's checkpoint sha256 is left out.
class ModelSet {
 public:
  explicit ModelSet(const fs::path& checkpoint) {
    fs::create_directories(models_dir());
    if (!checkpoint.empty()) fs::create_symlink(checkpoint, models_dir() / "tiny_a.safetensors");
    fs::create_symlink(test::fixture("lora_a.safetensors"), models_dir() / "lora_a.safetensors");
    std::ifstream in(test::fixture("models.json"));
    json models = json::parse(in);
    models.at("checkpoint").erase("sha256");
    std::ofstream(models_json()) << models.dump(1);
  }
  fs::path models_dir() const { return dir_ / "models"; }
  fs::path models_json() const { return dir_ / "models.json"; }
  const test::TempDir& dir() const { return dir_; }

  WorkerRun run_job(const std::string& job_json) const {
    return run_worker({"--models", models_json().string(), "--models-dir", models_dir().string(), "--device", "cpu",
                       "--test_input", job_json},
                      dir_.path());
  }

 private:
  test::TempDir dir_;
};

// stdout must be exactly one JSON document (nothing before or after it).
json parse_document(const WorkerRun& run) {
  try {
    return json::parse(run.out);
  } catch (const json::parse_error& e) {
    ADD_FAILURE() << "stdout is not one JSON document (" << e.what() << "):\n" << run.out << "\nstderr:\n" << run.err;
    return json();
  }
}

class GoldenJob : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenJob, LocalModeOutputMatchesTheFixturePngs) {
  const ModelSet models(test::tiny_checkpoint());
  const fs::path job_dir = test::fixture("jobs/" + GetParam());
  const std::string job_text = test::read_file_bytes(job_dir / "job.json");
  const json input = json::parse(job_text).at("input");

  const WorkerRun run = models.run_job(job_text);
  ASSERT_EQ(run.exit_code, 0) << "stdout:\n" << run.out << "\nstderr:\n" << run.err;
  const json doc = parse_document(run);
  ASSERT_TRUE(doc.is_object()) << run.out;
  EXPECT_FALSE(doc.contains("error")) << doc.dump();
  EXPECT_EQ(doc.at("image_format"), "png");
  EXPECT_EQ(doc.at("seed"), input.at("seed"));
  EXPECT_EQ(doc.at("parameters").at("model"), "tiny_a");
  for (const char* key : {"text_encode", "denoise", "decode", "encode_png", "total"}) {
    EXPECT_TRUE(doc.at("timings_ms").contains(key)) << key;
  }

  const json& images = doc.at("images");
  ASSERT_EQ(images.size(), input.at("num_images").get<size_t>());
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string png = base64_decode(images[i].get<std::string>());
    const auto expected = test::read_file_bytes(job_dir / ("image_" + std::to_string(i) + ".png"));
    const test::ImageDiff diff = test::compare_png(png, expected);
    std::printf("[ %s ] image %zu vs fixture: %s\n", GetParam().c_str(), i, diff.describe().c_str());
    EXPECT_TRUE(diff.same_size) << diff.describe();
    EXPECT_LE(diff.max_abs, 2) << diff.describe();
    EXPECT_LE(diff.mean_abs, 0.05) << diff.describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenJob, ::testing::ValuesIn(kJobs),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

// The job runs no further than loading: one JSON error on stdout, exit 1.
std::string load_error(const ModelSet& models) {
  const WorkerRun run = models.run_job(test::read_file_bytes(test::fixture("jobs/01_euler_64/job.json")));
  EXPECT_EQ(run.exit_code, 1) << "stdout:\n" << run.out << "\nstderr:\n" << run.err;
  const json doc = parse_document(run);
  if (!doc.is_object() || !doc.contains("error") || !doc.at("error").is_string()) {
    ADD_FAILURE() << "expected {\"error\": string}, got: " << run.out;
    return "";
  }
  EXPECT_EQ(doc.size(), 1u) << doc.dump();
  return doc.at("error").get<std::string>();
}

TEST(GoldenJobErrors, MissingCheckpointIsOneJsonErrorSayingItIsNotThere) {
  const ModelSet models({});
  const std::string error = load_error(models);
  EXPECT_NE(error.find("tiny_a"), std::string::npos) << error;
  EXPECT_NE(error.find("not in the models dir"), std::string::npos) << error;
  EXPECT_NE(error.find("url"), std::string::npos) << error;
}

TEST(GoldenJobErrors, TruncatedCheckpointIsOneJsonErrorSayingToDownloadItAgain) {
  test::TempDir scratch;
  const fs::path truncated = scratch / "tiny_a.safetensors";
  {
    std::ifstream in(test::tiny_checkpoint(), std::ios::binary);
    std::string head(1 << 20, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(truncated, std::ios::binary).write(head.data(), in.gcount());
  }
  const ModelSet models(truncated);
  const std::string error = load_error(models);
  EXPECT_NE(error.find("tiny_a"), std::string::npos) << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_NE(error.find("downloaded again"), std::string::npos) << error;
}

TEST(GoldenJobErrors, NonSdxlCheckpointIsOneJsonErrorSayingWhatTheFileIs) {
  const ModelSet models(test::fixture("lora_a.safetensors"));
  const std::string error = load_error(models);
  EXPECT_NE(error.find("tiny_a"), std::string::npos) << error;
  EXPECT_NE(error.find("is a LoRA"), std::string::npos) << error;
  EXPECT_NE(error.find("models.json"), std::string::npos) << error;
}

}  // namespace
}  // namespace sdxlw
