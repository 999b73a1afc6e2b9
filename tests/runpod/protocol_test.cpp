#include <gtest/gtest.h>

#include <map>
#include <regex>

#include "io/base64.h"
#include "io/png.h"
#include "runpod/backoff.h"
#include "runpod/job_output.h"
#include "runpod/protocol.h"
#include "runpod/runpod_env.h"
#include "support/env_of.h"

using nlohmann::json;
using sdxlw::test::env_of;

TEST(JobOutput, HoldsBase64PngsParametersAndTimings) {
  sdxlw::GenerationRequest request;
  request.prompt = "p";
  request.width = 64;
  request.height = 128;
  request.steps = 4;
  request.seed = 42;
  request.num_images = 1;
  sdxlw::GenerationResult result;
  std::vector<uint8_t> pixels(4 * 4 * 3, 9);
  result.png_images.push_back(sdxlw::encode_png_rgb8(pixels.data(), 4, 4));
  result.seed = 42;
  result.loras = {{"lora_a", 0.8, 3}};
  result.timings = {1.04, 2.26, 3.0, 4.449, 10.75};

  json out = sdxlw::job_output(request, result, "tiny_a");
  ASSERT_EQ(out["images"].size(), 1u);
  EXPECT_EQ(sdxlw::base64_decode(out["images"][0].get<std::string>()), result.png_images[0]);
  EXPECT_EQ(out["seed"], 42);
  EXPECT_EQ(out["image_format"], "png");
  EXPECT_EQ(out["parameters"],
            json::parse(R"({"prompt": "p", "negative_prompt": "", "width": 64, "height": 128,
              "num_inference_steps": 4, "guidance_scale": 7.0, "scheduler": "euler", "seed": 42,
              "num_images": 1, "model": "tiny_a",
              "loras": [{"name": "lora_a", "scale": 0.8, "unmatched_keys": 3}]})"));
  EXPECT_EQ(out["timings_ms"], json::parse(R"({"text_encode": 1.0, "denoise": 2.3, "decode": 3.0,
              "encode_png": 4.4, "total": 10.8})"));
  EXPECT_FALSE(sdxlw::is_error_output(out));
}

TEST(JobOutput, ErrorIsAStringAndRefreshIsFlagged) {
  EXPECT_EQ(sdxlw::error_output("boom"), json({{"error", "boom"}}));
  EXPECT_EQ(sdxlw::error_output("gpu gone", true), json({{"error", "gpu gone"}, {"refresh_worker", true}}));
  EXPECT_TRUE(sdxlw::is_error_output(sdxlw::error_output("x")));
  EXPECT_EQ(sdxlw::error_message(json{{"error", {{"code", 1}}}}), R"({"code":1})");
}

TEST(JobOutput, InvalidUtf8IsReplacedNotThrown) {
  EXPECT_EQ(sdxlw::dump_json(json{{"error", std::string("bad \xFF byte")}}),
            "{\"error\":\"bad \xEF\xBF\xBD byte\"}");
}

TEST(Protocol, JobDoneBodyWrapsOutputsAndStringifiesErrors) {
  EXPECT_EQ(sdxlw::job_done_body(json{{"images", {"a"}}}), json::parse(R"({"output": {"images": ["a"]}})"));
  EXPECT_EQ(sdxlw::job_done_body(json{{"error", "bad"}}), json::parse(R"({"error": "bad"})"));
  EXPECT_EQ(sdxlw::job_done_body(json{{"error", "gpu"}, {"refresh_worker", true}}),
            json::parse(R"({"error": "gpu", "stopPod": true})"));
  EXPECT_EQ(sdxlw::job_done_body(json{{"error", {"a", "b"}}, {"details", 1}}),
            json::parse(R"({"error": "[\"a\",\"b\"]", "output": {"details": 1}})"));
}

TEST(Protocol, ProgressBodyIsAnInProgressStatus) {
  EXPECT_EQ(sdxlw::progress_body({10, 30, 1.5}),
            json::parse(R"({"status": "IN_PROGRESS", "output": {"step": 10, "total_steps": 30, "percent": 33}})"));
}

TEST(Protocol, HeadersMatchThePythonSdk) {
  EXPECT_EQ(sdxlw::job_take_headers("KEY"),
            (sdxlw::HttpHeaders{{"Authorization", "KEY"}, {"Content-Type", "application/json"}}));
  EXPECT_EQ(sdxlw::job_done_headers("KEY", "job-1"),
            (sdxlw::HttpHeaders{{"Authorization", "KEY"},
                                {"Content-Type", "application/x-www-form-urlencoded"},
                                {"charset", "utf-8"},
                                {"X-Request-ID", "job-1"}}));
}

TEST(Protocol, JobTakeBodyGivesJobsAndReportsTheRest) {
  EXPECT_TRUE(sdxlw::read_job_take_body("").jobs.empty());
  EXPECT_TRUE(sdxlw::read_job_take_body("").problems.empty());
  EXPECT_TRUE(sdxlw::read_job_take_body(" \n").problems.empty());

  auto not_json = sdxlw::read_job_take_body("<html>busy</html>");
  EXPECT_TRUE(not_json.jobs.empty());
  ASSERT_EQ(not_json.problems.size(), 1u);
  EXPECT_EQ(not_json.problems[0], "the answer is not JSON: <html>busy</html>");

  auto no_id = sdxlw::read_job_take_body(R"({"input": {"prompt": "p"}})");
  EXPECT_TRUE(no_id.jobs.empty());
  ASSERT_EQ(no_id.problems.size(), 1u);
  EXPECT_NE(no_id.problems[0].find("no string \"id\""), std::string::npos);

  EXPECT_EQ(sdxlw::read_job_take_body(R"({"id": 5, "input": {}})").problems.size(), 1u);
  EXPECT_EQ(sdxlw::read_job_take_body("42").problems.size(), 1u);

  auto one = sdxlw::read_job_take_body(R"({"id": "a", "input": {"prompt": "p"}, "webhook": "x"})");
  ASSERT_EQ(one.jobs.size(), 1u);
  EXPECT_EQ(one.jobs[0]["webhook"], "x");
  auto without_input = sdxlw::read_job_take_body(R"({"id": "b"})");
  ASSERT_EQ(without_input.jobs.size(), 1u);  // answered with an error by the handler

  auto batch = sdxlw::read_job_take_body(R"([{"id": "a", "input": {}}, {"input": {}}, {"id": "c", "input": {}}])");
  ASSERT_EQ(batch.jobs.size(), 2u);
  EXPECT_EQ(batch.jobs[1]["id"], "c");
  EXPECT_EQ(batch.problems.size(), 1u);
}

TEST(Protocol, LogExcerptCutsOnACharacterBoundary) {
  EXPECT_EQ(sdxlw::log_excerpt("short"), "short");
  EXPECT_EQ(sdxlw::log_excerpt("ab\xC3\xA9xyz", 3), "ab...");
  EXPECT_EQ(sdxlw::log_excerpt(std::string(500, 'x')).size(), 303u);
}

TEST(RunpodEnv, TemplatesReplacePodIdFirstThenId) {
  EXPECT_EQ(sdxlw::expand_url_template("http://h/job-done/$RUNPOD_POD_ID/$ID?gpu=A", "pod1", "job9"),
            "http://h/job-done/pod1/job9?gpu=A");
  EXPECT_EQ(sdxlw::expand_url_template("http://h/job-take/$ID", "pod1", "pod1"), "http://h/job-take/pod1");
  EXPECT_EQ(sdxlw::expand_url_template("http://h/take/$RUNPOD_POD_ID?x=$ID", "p", "j"),
            "http://h/take/p?x=j");
}

TEST(RunpodEnv, QueryParametersGetTheRightSeparator) {
  EXPECT_EQ(sdxlw::append_query("http://h/a", "isStream", "false"), "http://h/a?isStream=false");
  EXPECT_EQ(sdxlw::append_query("http://h/a?gpu=X", "isStream", "false"), "http://h/a?gpu=X&isStream=false");
  EXPECT_EQ(sdxlw::append_query("http://h/a?", "k", "v"), "http://h/a?k=v");
  EXPECT_EQ(sdxlw::append_query("http://h/a?x=1&", "k", "v"), "http://h/a?x=1&k=v");
  EXPECT_EQ(sdxlw::append_query("http://h/a#frag", "k", "v"), "http://h/a?k=v#frag");
  EXPECT_EQ(sdxlw::append_query("http://h/a", "job_id", "a b,c&d"), "http://h/a?job_id=a%20b%2Cc%26d");
}

TEST(RunpodEnv, ReadsTheVariablesWithTheSdkDefaults) {
  auto e = sdxlw::read_runpod_env(env_of({{"RUNPOD_WEBHOOK_GET_JOB", "http://h/take/$ID"},
                                          {"RUNPOD_WEBHOOK_POST_OUTPUT", "http://h/done/$ID"},
                                          {"RUNPOD_WEBHOOK_PING", "http://h/ping"},
                                          {"RUNPOD_POD_ID", "pod-7"},
                                          {"RUNPOD_AI_API_KEY", "k"},
                                          {"RUNPOD_PING_INTERVAL", "2500"},
                                          {"RUNPOD_DEBUG_LEVEL", "WARN"}}));
  EXPECT_EQ(e.job_take_url, "http://h/take/$ID");
  EXPECT_EQ(e.worker_id, "pod-7");
  EXPECT_TRUE(e.worker_id_from_env);
  EXPECT_EQ(e.ping_interval_ms, 2500);
  EXPECT_EQ(e.log_level, "WARN");

  auto d = sdxlw::read_runpod_env(env_of({}));
  EXPECT_EQ(d.ping_interval_ms, 10000);
  EXPECT_FALSE(d.worker_id_from_env);
  EXPECT_TRUE(std::regex_match(d.worker_id,
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  EXPECT_EQ(d.log_level, "");

  EXPECT_THROW(sdxlw::read_runpod_env(env_of({{"RUNPOD_PING_INTERVAL", "10s"}})), std::runtime_error);
  EXPECT_THROW(sdxlw::read_runpod_env(env_of({{"RUNPOD_PING_INTERVAL", "0"}})), std::runtime_error);
}

TEST(Backoff, DoublesUpToTheCapAndResets) {
  sdxlw::Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(500));
  EXPECT_EQ(b.next().count(), 100);
  EXPECT_EQ(b.next().count(), 200);
  EXPECT_EQ(b.next().count(), 400);
  EXPECT_EQ(b.next().count(), 500);
  EXPECT_EQ(b.next().count(), 500);
  b.reset();
  EXPECT_EQ(b.next().count(), 100);
}

TEST(Backoff, SleepEndsEarlyWhenStopped) {
  std::atomic<bool> stop{true};
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(sdxlw::sleep_unless_stopped(std::chrono::seconds(10), stop));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  std::atomic<bool> go{false};
  EXPECT_TRUE(sdxlw::sleep_unless_stopped(std::chrono::milliseconds(1), go));
}
