// The real sdxl-worker in local mode and on its command line: every kind of bad job gives exactly
// one JSON document on stdout, {"error": "..."} naming every problem, and exit 1 without a crash;
// --version, --help and an unknown flag; and a models.json whose files are all cached starts
// without touching the network.

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/worker_harness.h"
#include "io/sha256.h"
#include "support/fake_civitai.h"
#include "util/version.h"

namespace sdxlw {
namespace {

using nlohmann::json;
using test::ProcessResult;

struct BadJob {
  std::string name;
  std::string job;                 // the --test_input text
  std::vector<std::string> named;  // each must appear in the error
};

// Test names show the case's name rather than its bytes.
void PrintTo(const BadJob& bad, std::ostream* os) { *os << bad.name; }

json with(json input, const std::string& field, const json& value) {
  input[field] = value;
  return input;
}

std::string as_job(const json& input) { return json{{"input", input}}.dump(); }

std::vector<BadJob> bad_jobs() {
  const json ok = test::small_input(1);
  json no_prompt = ok;
  no_prompt.erase("prompt");
  return {
      {"MissingPrompt", as_job(no_prompt), {"prompt is required"}},
      {"Width1000", as_job(with(ok, "width", 1000)), {"width must be a multiple of 64 (got 1000)"}},
      {"StepsZero", as_job(with(ok, "num_inference_steps", 0)),
       {"num_inference_steps must be between 1 and 150 (got 0)"}},
      {"UnknownScheduler", as_job(with(ok, "scheduler", "karras_magic")),
       {"scheduler \"karras_magic\" is unknown", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "ddim"}},
      {"NumImages9", as_job(with(ok, "num_images", 9)), {"num_images must be between 1 and 8 (got 9)"}},
      {"StringWhereANumberBelongs", as_job(with(ok, "guidance_scale", "7.5")),
       {"guidance_scale must be a number, not a string (got \"7.5\")"}},
      {"StringWhereAnIntegerBelongs", as_job(with(ok, "num_inference_steps", "30")),
       {"num_inference_steps must be an integer, not a string (got \"30\")"}},
      {"UnknownField", as_job(with(ok, "sampler_name", "euler")),
       {"unknown field \"sampler_name\"", "accepted: prompt, negative_prompt"}},
      {"HundredThousandCharacterPrompt", as_job(with(ok, "prompt", std::string(100000, 'a'))),
       {"prompt is too long: 100000 characters (at most 10000)"}},
      {"InputIsAString", R"({"input": "a cat"})", {"input must be a JSON object, not a string"}},
      {"InputIsAnArray", R"({"input": ["a cat"]})", {"input must be a JSON object, not an array"}},
      {"NoInput", R"({"prompt": "a cat"})", {"has no \"input\""}},
      {"NotJson", R"({"input": {"prompt": "a cat",)", {"--test_input is not valid JSON"}},
      {"SeveralProblemsAtOnce",
       as_job({{"width", 1000},
               {"height", 32},
               {"num_inference_steps", 0},
               {"scheduler", "nope"},
               {"num_images", 9},
               {"seed", "42"},
               {"loras", {{{"name", "no_such_lora"}}}},
               {"cfg", 7}}),
       {"prompt is required", "width must be a multiple of 64 (got 1000)", "height must be between 64 and 2048 (got 32)",
        "num_inference_steps must be between 1 and 150 (got 0)", "scheduler \"nope\" is unknown",
        "num_images must be between 1 and 8 (got 9)", "seed must be an integer, not a string",
        "loras[0].name \"no_such_lora\" is unknown (known: \"lora_a\")", "unknown field \"cfg\""}},
  };
}

class BadLocalJob : public ::testing::TestWithParam<BadJob> {};

TEST_P(BadLocalJob, IsOneJsonErrorNamingEveryProblemAndExitOne) {
  const test::ModelSet models;
  const BadJob& bad = GetParam();
  const ProcessResult run = models.run_job(bad.job);
  ASSERT_FALSE(run.timed_out) << test::describe(run);
  EXPECT_EQ(run.term_signal, 0) << test::describe(run);
  EXPECT_EQ(run.exit_code, 1) << test::describe(run);
  const json doc = test::parse_document(run);
  ASSERT_TRUE(doc.is_object() && doc.size() == 1 && doc.contains("error") && doc.at("error").is_string())
      << "expected exactly {\"error\": string}:\n" << run.out;
  const std::string error = doc.at("error");
  for (const auto& part : bad.named) EXPECT_NE(error.find(part), std::string::npos) << "\"" << part << "\" not in: " << error;
  EXPECT_LT(error.size(), 2000u) << "the error should quote values briefly";
  EXPECT_NE(run.err.find(error.substr(0, 40)), std::string::npos) << "the log should carry the error too\n" << run.err;
}

INSTANTIATE_TEST_SUITE_P(Local, BadLocalJob, ::testing::ValuesIn(bad_jobs()),
                         [](const ::testing::TestParamInfo<BadJob>& info) { return info.param.name; });

TEST(WorkerCli, VersionPrintsTheVersionAndExitsZero) {
  const ProcessResult run = test::run_worker({"--version"});
  EXPECT_EQ(run.exit_code, 0) << test::describe(run);
  EXPECT_EQ(run.out, std::string("sdxl-worker ") + kVersion + "\n");
}

TEST(WorkerCli, HelpPrintsTheUsageAndExitsZero) {
  const ProcessResult run = test::run_worker({"--help"});
  EXPECT_EQ(run.exit_code, 0) << test::describe(run);
  EXPECT_EQ(run.out.rfind("usage: sdxl-worker", 0), 0u) << run.out;
  for (const char* flag : {"--rp_serve_api", "--test_input", "--models", "--models-dir", "--download-only", "--device",
                           "--rp_log_level", "--version", "RUNPOD_WEBHOOK_GET_JOB"})
    EXPECT_NE(run.out.find(flag), std::string::npos) << flag;
}

TEST(WorkerCli, UnknownFlagExitsTwoWithTheUsageOnStderr) {
  const ProcessResult run = test::run_worker({"--frobnicate", "--device", "cpu"});
  EXPECT_EQ(run.exit_code, 2) << test::describe(run);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err.rfind("sdxl-worker: unknown option --frobnicate\n", 0), 0u) << run.err;
  EXPECT_NE(run.err.find("usage: sdxl-worker"), std::string::npos) << run.err;
}

TEST(WorkerCli, BadFlagValueExitsTwoNamingTheFlag) {
  const ProcessResult run = test::run_worker({"--device", "tpu"});
  EXPECT_EQ(run.exit_code, 2) << test::describe(run);
  EXPECT_NE(run.err.find("--device must be auto|cpu|cuda (got \"tpu\")"), std::string::npos) << run.err;
}

// Every file of models.json is in the models dir: the worker starts and runs a job with its
// URLs pointing at a port where nothing listens (but named a Civitai host, so any SHA-256 look-up
// or download would be tried there and fail).
TEST(LocalMode, ModelSetAlreadyCachedStartsWithNoNetworkAtAll) {
  const int port = test::closed_port();
  const std::string host = "127.0.0.1:" + std::to_string(port);
  test::ModelSet::Options options;
  options.checkpoint_sha256 = sha256_file_hex(test::tiny_checkpoint().string());
  options.checkpoint_url = "http://" + host + "/api/download/models/1001";
  options.lora_url = "http://" + host + "/api/download/models/1002";
  const test::ModelSet models(options);
  const test::EnvChanges env = {{"CIVITAI_HOSTS", host}, {"CIVITAI_API_KEY", "k"}};

  // The files are checked against models.json's SHA-256s once (as an image build does)...
  const ProcessResult check = test::run_worker(models.args({"--download-only"}), env);
  ASSERT_EQ(check.exit_code, 0) << test::describe(check);
  EXPECT_NE(check.err.find("0 cached, 2 verified, 0 fetched"), std::string::npos) << check.err;

  // ...and from then on a job starts from the cache alone.
  const ProcessResult run = models.run_job(as_job(test::small_input(5)), env);
  ASSERT_EQ(run.exit_code, 0) << test::describe(run);
  const json doc = test::parse_document(run);
  EXPECT_EQ(doc.at("seed"), 5);
  EXPECT_EQ(doc.at("images").size(), 1u);
  EXPECT_NE(run.err.find("2 cached, 0 verified, 0 fetched"), std::string::npos) << run.err;
  for (const std::string& log : {check.err, run.err}) {
    EXPECT_EQ(log.find("cannot look up"), std::string::npos) << log;
    EXPECT_EQ(log.find("fetching"), std::string::npos) << log;
    EXPECT_EQ(log.find(host), std::string::npos) << "the log names the unreachable host:\n" << log;
  }
}

}  // namespace
}  // namespace sdxlw
