// The real executable in local mode (`--test_input`) on every fixture job: exactly one JSON
// document on stdout whose PNGs match the diffusers reference within 2 levels, and one JSON error
// naming the problem (exit 1) for a missing, a truncated and a non-SDXL checkpoint.

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/worker_harness.h"
#include "io/base64.h"
#include "support/fixture_jobs.h"
#include "support/image_compare.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::ModelSet;
using test::ProcessResult;

ModelSet with_checkpoint(const fs::path& checkpoint) {
  ModelSet::Options options;
  options.checkpoint = checkpoint;
  return ModelSet(options);
}

class GoldenJob : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenJob, LocalModeOutputMatchesTheFixturePngs) {
  const ModelSet models;
  const fs::path job_dir = test::fixture("jobs/" + GetParam());
  const std::string job_text = test::read_file_bytes(job_dir / "job.json");
  const json input = json::parse(job_text).at("input");

  const ProcessResult run = models.run_job(job_text);
  ASSERT_EQ(run.exit_code, 0) << test::describe(run);
  const json doc = test::parse_document(run);
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

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenJob, ::testing::ValuesIn(test::fixture_job_names()), test::job_param_name);

// The job runs no further than loading: one JSON error on stdout, exit 1.
std::string load_error(const ModelSet& models) {
  const ProcessResult run = models.run_job(test::read_file_bytes(test::fixture("jobs/01_euler_64/job.json")));
  EXPECT_EQ(run.exit_code, 1) << test::describe(run);
  const json doc = test::parse_document(run);
  if (!doc.is_object() || !doc.contains("error") || !doc.at("error").is_string()) {
    ADD_FAILURE() << "expected {\"error\": string}, got: " << run.out;
    return "";
  }
  EXPECT_EQ(doc.size(), 1u) << doc.dump();
  return doc.at("error").get<std::string>();
}

TEST(GoldenJobErrors, MissingCheckpointIsOneJsonErrorSayingItIsNotThere) {
  const ModelSet models = with_checkpoint({});
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
  const ModelSet models = with_checkpoint(truncated);
  const std::string error = load_error(models);
  EXPECT_NE(error.find("tiny_a"), std::string::npos) << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_NE(error.find("downloaded again"), std::string::npos) << error;
}

TEST(GoldenJobErrors, NonSdxlCheckpointIsOneJsonErrorSayingWhatTheFileIs) {
  const ModelSet models = with_checkpoint(test::fixture("lora_a.safetensors"));
  const std::string error = load_error(models);
  EXPECT_NE(error.find("tiny_a"), std::string::npos) << error;
  EXPECT_NE(error.find("is a LoRA"), std::string::npos) << error;
  EXPECT_NE(error.find("models.json"), std::string::npos) << error;
}

}  // namespace
}  // namespace sdxlw
