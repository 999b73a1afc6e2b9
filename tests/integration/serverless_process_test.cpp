// The real sdxl-worker in serverless mode (the RUNPOD_WEBHOOK_* variables set) against an
// in-process fake RunPod on 127.0.0.1, with the fixture checkpoint on the CPU: the exact URLs,
// query parameters and headers of job-take, job-done, progress and ping; 20 jobs in a row;
// job-done failing and refused connections; 429 on job-take; a job without input; the heartbeat
// during a job; SIGTERM mid-job. The worker's own real-time back-offs are used (job-done retries
// after 1 s, 2 s, 4 s, ...; 5 s after a 429), so these tests wait on the fake's recorded
// requests, never on fixed sleeps, except for the outage that one test imposes.

#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "integration/worker_harness.h"
#include "io/base64.h"
#include "io/png.h"
#include "support/fake_runpod.h"
#include "support/image_compare.h"
#include "util/version.h"

namespace sdxlw {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::FakeReply;
using test::FakeRunpod;
using test::RecordedRequest;
using Clock = std::chrono::steady_clock;

constexpr const char* kKey = "rp-key-8f2c";  // sent raw, without "Bearer"
constexpr const char* kPod = "pod-it-1";
constexpr int kPingMs = 200;

json job(const std::string& id, const json& input) { return {{"id", id}, {"input", input}}; }

std::string path_job_id(const RecordedRequest& r) { return r.path.substr(r.path.rfind('/') + 1); }

long long ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

std::string done_target(const std::string& job_id) {
  return "/v2/ep-test/job-done/" + std::string(kPod) + "/" + job_id + "?gpu=TEST&isStream=false";
}

size_t count_for(const std::vector<RecordedRequest>& requests, const std::string& job_id) {
  size_t n = 0;
  for (const auto& r : requests) n += path_job_id(r) == job_id;
  return n;
}

class Serverless : public ::testing::Test {
 protected:
  void start() {
    const test::EnvChanges env = {{"RUNPOD_WEBHOOK_GET_JOB", fake_.job_take_url()},
                                  {"RUNPOD_WEBHOOK_POST_OUTPUT", fake_.job_done_url()},
                                  {"RUNPOD_WEBHOOK_PING", fake_.ping_url()},
                                  {"RUNPOD_POD_ID", kPod},
                                  {"RUNPOD_AI_API_KEY", kKey},
                                  {"RUNPOD_PING_INTERVAL", std::to_string(kPingMs)}};
    worker_ = std::make_unique<test::Subprocess>(test::worker_exe(), test::worker_options(models_.args(), env));
  }

  // SIGTERM with no job running: the worker leaves its long-poll and exits 0.
  void stop_and_expect_exit_zero() {
    worker_->send_signal(SIGTERM);
    ASSERT_TRUE(worker_->wait_or_kill(60s)) << "the worker did not stop after SIGTERM\n" << log();
    EXPECT_EQ(worker_->status_text(), "exit 0") << log();
  }

  bool wait_accepted(size_t n, std::chrono::milliseconds timeout = 180s) {
    return fake_.wait_until([&] { return fake_.accepted_results().size() >= n || !worker_->running(); }, timeout) &&
           fake_.accepted_results().size() >= n;
  }

  std::string log() const { return "worker " + worker_->status_text() + ", its log:\n" + worker_->err(); }

  FakeRunpod fake_;
  test::ModelSet models_;
  std::unique_ptr<test::Subprocess> worker_;  // declared last: it ends before the fake does
};

TEST_F(Serverless, JobTakeJobDoneProgressAndPingUseTheSdkUrlsQueryParametersAndHeaders) {
  fake_.push_job(job("job-url-1", test::small_input(11, 20)));  // 20 steps: progress after 5, 10, 15
  start();
  ASSERT_TRUE(wait_accepted(1)) << log();
  ASSERT_TRUE(fake_.wait_until([&] { return fake_.pings().size() >= 2 && fake_.takes().size() >= 2; }, 60s)) << log();
  stop_and_expect_exit_zero();

  const std::string user_agent = std::string("sdxl-worker/") + kVersion + " (";
  for (const auto& take : fake_.takes()) {
    EXPECT_EQ(take.method, "GET");
    EXPECT_EQ(take.target, "/v2/ep-test/job-take/pod-it-1?gpu=TEST&job_in_progress=0");
    EXPECT_EQ(take.header("Authorization"), kKey);
    EXPECT_EQ(take.header("Content-Type"), "application/json");
    EXPECT_EQ(take.header("User-Agent").rfind(user_agent, 0), 0u) << take.header("User-Agent");
  }

  const auto results = fake_.results();
  ASSERT_EQ(results.size(), 1u);
  const RecordedRequest& done = results[0];
  EXPECT_EQ(done.method, "POST");
  EXPECT_EQ(done.target, done_target("job-url-1"));
  EXPECT_EQ(done.header("Authorization"), kKey);
  EXPECT_EQ(done.header("Content-Type"), "application/x-www-form-urlencoded");  // what the Python SDK sends
  EXPECT_EQ(done.header("X-Request-ID"), "job-url-1");
  EXPECT_EQ(done.header("User-Agent").rfind(user_agent, 0), 0u) << done.header("User-Agent");
  const json body = done.json();
  ASSERT_TRUE(body.is_object()) << done.body.substr(0, 300);
  EXPECT_EQ(body.size(), 1u) << "only \"output\" expected";
  const json& output = body.at("output");
  EXPECT_EQ(output.at("seed"), 11);
  EXPECT_EQ(output.at("parameters").at("num_inference_steps"), 20);
  ASSERT_EQ(output.at("images").size(), 1u);
  const DecodedImage image = decode_png(base64_decode(output.at("images")[0].get<std::string>()));
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 64);

  const auto progress = fake_.progress();
  ASSERT_FALSE(progress.empty()) << "no IN_PROGRESS update during a 20-step job\n" << log();
  for (const auto& p : progress) {
    EXPECT_EQ(p.method, "POST");
    EXPECT_EQ(p.target, done_target("job-url-1"));
    EXPECT_EQ(p.header("Authorization"), kKey);
    EXPECT_EQ(p.header("Content-Type"), "application/x-www-form-urlencoded");
    EXPECT_EQ(p.header("X-Request-ID"), "job-url-1");
    const json update = p.json();
    EXPECT_EQ(update.at("status"), "IN_PROGRESS");
    const int step = update.at("output").at("step");
    EXPECT_TRUE(step == 5 || step == 10 || step == 15) << update.dump();
    EXPECT_EQ(update.at("output").at("total_steps"), 20);
    EXPECT_EQ(update.at("output").at("percent"), step * 100 / 20);
    EXPECT_LT(p.at, done.at) << "a progress update after the result";
  }

  for (const auto& ping : fake_.pings()) {
    EXPECT_EQ(ping.method, "GET");
    EXPECT_EQ(ping.path, "/v2/ep-test/ping/pod-it-1");
    EXPECT_EQ(ping.param("gpu"), "TEST");
    if (ping.has_param("job_id")) {
      EXPECT_EQ(ping.target, "/v2/ep-test/ping/pod-it-1?gpu=TEST&job_id=job-url-1");
    } else {
      EXPECT_EQ(ping.target, "/v2/ep-test/ping/pod-it-1?gpu=TEST");
    }
    EXPECT_EQ(ping.header("Authorization"), kKey);
    EXPECT_EQ(ping.header("Content-Type"), "application/json");
    EXPECT_EQ(ping.header("User-Agent").rfind(user_agent, 0), 0u) << ping.header("User-Agent");
  }

  for (const auto& r : fake_.all()) EXPECT_NE(r.reply_status, 404) << "unexpected request " << r.method << " " << r.target;
}

TEST_F(Serverless, TwentyJobsInARowIncludingInvalidOnesAreEachAnsweredCorrectly) {
  // Job id → the exact error, or "" for a job that must succeed.
  std::vector<std::pair<std::string, std::string>> expected;
  auto push = [&](const json& j, const std::string& error) {
    fake_.push_job(j);
    expected.emplace_back(j.at("id").get<std::string>(), error);
  };
  const std::vector<std::string> schedulers = {"euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "ddim"};
  for (int i = 0; i < 20; ++i) {
    const std::string id = "job-" + std::to_string(i);
    json input = test::small_input(100 + i);
    switch (i) {
      case 0: push(job(id, test::fixture_job("01_euler_64").at("input")), ""); break;
      case 3: input["width"] = 1000; push(job(id, input), "invalid input: width must be a multiple of 64 (got 1000)"); break;
      case 5: push(json{{"id", id}}, "job has no input: expected {\"input\": {\"prompt\": ...}}"); break;
      case 8: push(job(id, "just a prompt"), "invalid input: input must be a JSON object, not a string"); break;
      case 11:
        input["num_inference_steps"] = 0;
        input["num_images"] = 9;
        push(job(id, input), "invalid input: num_inference_steps must be between 1 and 150 (got 0); "
                             "num_images must be between 1 and 8 (got 9)");
        break;
      case 14: input["guidance_scale"] = "high"; push(job(id, input), "invalid input: guidance_scale must be a number, not a string (got \"high\")"); break;
      case 17: push(json{{"id", id}, {"input", nullptr}}, "job has no input: expected {\"input\": {\"prompt\": ...}}"); break;
      default:
        input["scheduler"] = schedulers[i % schedulers.size()];
        if (i == 13) input["num_images"] = 2;
        push(job(id, input), "");
    }
  }
  start();
  ASSERT_TRUE(wait_accepted(20, 300s)) << log();
  // The worker goes on taking jobs after the twentieth.
  const auto last_result = fake_.results().back().at;
  ASSERT_TRUE(fake_.wait_until([&] { return fake_.takes().back().at > last_result; }, 60s)) << log();
  stop_and_expect_exit_zero();

  const auto results = fake_.results();
  ASSERT_EQ(results.size(), 20u);
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& [id, error] = expected[i];
    const RecordedRequest& r = results[i];
    EXPECT_EQ(r.target, done_target(id));
    EXPECT_EQ(r.reply_status, 200);
    const json body = r.json();
    if (!error.empty()) {
      EXPECT_EQ(body, json({{"error", error}})) << id;
      continue;
    }
    ASSERT_TRUE(body.contains("output")) << id << ": " << body.dump().substr(0, 500);
    EXPECT_FALSE(body.contains("error")) << id;
    const json& output = body.at("output");
    const json input = id == "job-0" ? test::fixture_job("01_euler_64").at("input") : test::small_input(100 + int(i));
    EXPECT_EQ(output.at("seed"), input.at("seed")) << id;
    EXPECT_EQ(output.at("images").size(), id == "job-13" ? 2u : 1u) << id;
    if (id != "job-0") {
      EXPECT_EQ(output.at("parameters").at("scheduler"), schedulers[i % schedulers.size()]) << id;
    }
    for (const auto& image : output.at("images"))
      EXPECT_EQ(decode_png(base64_decode(image.get<std::string>())).width, 64) << id;
  }
  // The fixture job gives the fixture image (as in local mode).
  const std::string png = base64_decode(results[0].json().at("output").at("images")[0].get<std::string>());
  const test::ImageDiff diff =
      test::compare_png(png, test::read_file_bytes(test::fixture("jobs/01_euler_64/image_0.png")));
  EXPECT_TRUE(diff.same_size) << diff.describe();
  EXPECT_LE(diff.max_abs, 2) << diff.describe();
}

TEST_F(Serverless, JobDoneFailingWith500TwiceIsRetriedAndTheResultDeliveredOnce) {
  fake_.push_done_status(500);
  fake_.push_done_status(500);
  fake_.push_job(job("job-a", test::small_input(21)));
  start();
  ASSERT_TRUE(wait_accepted(1)) << log();
  fake_.push_job(job("job-b", test::small_input(22)));
  ASSERT_TRUE(wait_accepted(2)) << log();
  stop_and_expect_exit_zero();

  const auto results = fake_.results();
  ASSERT_EQ(results.size(), 4u) << log();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(path_job_id(results[i]), "job-a");
    EXPECT_EQ(results[i].body, results[0].body) << "attempt " << i << " sent another body";
  }
  EXPECT_EQ(results[0].reply_status, 500);
  EXPECT_EQ(results[1].reply_status, 500);
  EXPECT_EQ(results[2].reply_status, 200);
  EXPECT_EQ(path_job_id(results[3]), "job-b");
  EXPECT_EQ(count_for(fake_.accepted_results(), "job-a"), 1u);
  EXPECT_EQ(results[0].json().at("output").at("seed"), 21);
  // The worker's back-off: 1 s, then 2 s.
  EXPECT_GE(ms_between(results[0].at, results[1].at), 950);
  EXPECT_GE(ms_between(results[1].at, results[2].at), 1950);
}

TEST_F(Serverless, ResultIsDeliveredWhenConnectionsRefusedForTenSecondsEnd) {
  fake_.push_job(job("job-outage", test::small_input(31, 20)));
  start();
  // Down while the job runs (its first progress update, after step 5 of 20, has arrived), so that
  // its result meets refused connections.
  ASSERT_TRUE(fake_.wait_until([&] { return !fake_.progress().empty() || !worker_->running(); }, 180s) &&
              !fake_.progress().empty())
      << log();
  fake_.go_down();
  const auto down_at = Clock::now();
  // The outage lasts 10 s, and at least until the worker has tried to deliver the result.
  ASSERT_TRUE(worker_->wait_for_err("job job-outage: job-done failed", 180s))
      << "the result was not tried during the outage\n" << log();
  std::this_thread::sleep_until(down_at + 10s);
  fake_.come_up();
  ASSERT_TRUE(wait_accepted(1)) << log();
  const auto delivered = fake_.accepted_results().at(0);
  EXPECT_EQ(delivered.target, done_target("job-outage"));
  EXPECT_EQ(delivered.json().at("output").at("seed"), 31);

  fake_.push_job(job("job-after", test::small_input(32)));  // job-take works again too
  ASSERT_TRUE(wait_accepted(2)) << log();
  stop_and_expect_exit_zero();
  EXPECT_EQ(count_for(fake_.results(), "job-outage"), 1u);  // refused attempts never reached the fake
  EXPECT_EQ(fake_.results().size(), 2u);
}

TEST_F(Serverless, TooManyRequestsOnJobTakeWaitsFiveSecondsBeforeAskingAgain) {
  fake_.push_take_reply(FakeReply{429, R"({"error": "too many requests"})", "application/json"});
  fake_.push_job(job("job-1", test::small_input(41)));
  start();
  ASSERT_TRUE(wait_accepted(1)) << log();
  stop_and_expect_exit_zero();
  const auto takes = fake_.takes();
  ASSERT_GE(takes.size(), 2u);
  EXPECT_EQ(takes[0].reply_status, 429);
  EXPECT_EQ(takes[1].reply_status, 200);
  EXPECT_GE(ms_between(takes[0].at, takes[1].at), 4900);
  EXPECT_LE(ms_between(takes[0].at, takes[1].at), 15000);
  EXPECT_EQ(fake_.accepted_results().at(0).json().at("output").at("seed"), 41);
}

TEST_F(Serverless, JobWithoutInputIsAnsweredWithAnErrorAndTheWorkerGoesOn) {
  fake_.push_job(json{{"id", "no-input"}, {"webhook", "https://example.com/hook"}});
  fake_.push_job(job("job-2", test::small_input(52)));
  start();
  ASSERT_TRUE(wait_accepted(2)) << log();
  stop_and_expect_exit_zero();
  const auto results = fake_.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].target, done_target("no-input"));
  EXPECT_EQ(results[0].json(), json({{"error", "job has no input: expected {\"input\": {\"prompt\": ...}}"}}));
  EXPECT_EQ(results[1].target, done_target("job-2"));
  EXPECT_EQ(results[1].json().at("output").at("seed"), 52);
}

TEST_F(Serverless, PingsKeepTheirIntervalAndCarryTheJobIdWhileAJobRuns) {
  start();
  // The job comes after the first ping, which therefore names none.
  ASSERT_TRUE(fake_.wait_until([&] { return !fake_.pings().empty(); }, 180s)) << log();
  fake_.push_job(job("job-long", test::small_input(61, 80)));
  ASSERT_TRUE(wait_accepted(1, 300s)) << log();
  const auto delivered = fake_.accepted_results().at(0).at;
  // A ping after the result no longer names the job.
  ASSERT_TRUE(fake_.wait_until([&] {
    const auto pings = fake_.pings();
    return !pings.empty() && pings.back().at > delivered && !pings.back().has_param("job_id");
  }, 60s)) << log();
  stop_and_expect_exit_zero();

  const auto pings = fake_.pings();
  EXPECT_FALSE(pings.front().has_param("job_id"));
  std::vector<RecordedRequest> during;
  for (const auto& p : pings)
    if (p.has_param("job_id")) during.push_back(p);
  ASSERT_GE(during.size(), 4u) << "too few pings during an 80-step job\n" << log();
  for (const auto& p : during) EXPECT_EQ(p.param("job_id"), "job-long");
  // Consecutive pings while the job runs: none missing (at most 3 intervals apart on a loaded
  // machine), none bunched up (on average at least half an interval apart).
  long long longest = 0;
  for (size_t i = 1; i < during.size(); ++i) {
    const long long gap = ms_between(during[i - 1].at, during[i].at);
    longest = std::max(longest, gap);
    EXPECT_LE(gap, 3 * kPingMs) << "ping " << i << " of the job";
  }
  const long long mean = ms_between(during.front().at, during.back().at) / static_cast<long long>(during.size() - 1);
  std::printf("[ pings ] %zu during the job, every %d ms: mean gap %lld ms, longest %lld ms\n", during.size(),
              kPingMs, mean, longest);
  EXPECT_GE(mean, kPingMs / 2);
  EXPECT_LE(mean, 2 * kPingMs);
}

TEST_F(Serverless, SigtermMidJobDeliversTheResultAndExitsZero) {
  fake_.push_job(job("job-term", test::small_input(71, 20)));
  start();
  ASSERT_TRUE(fake_.wait_until([&] { return !fake_.progress().empty() || !worker_->running(); }, 180s) &&
              !fake_.progress().empty())
      << log();
  ASSERT_TRUE(fake_.results().empty()) << "the job ended before the signal could be sent";
  const auto signalled = Clock::now();
  worker_->send_signal(SIGTERM);
  ASSERT_TRUE(worker_->wait_or_kill(180s)) << "no exit after SIGTERM\n" << log();
  EXPECT_EQ(worker_->status_text(), "exit 0") << log();

  const auto results = fake_.accepted_results();
  ASSERT_EQ(results.size(), 1u) << log();
  EXPECT_EQ(results[0].target, done_target("job-term"));
  EXPECT_GT(results[0].at, signalled);
  const json output = results[0].json().at("output");
  EXPECT_EQ(output.at("seed"), 71);
  EXPECT_EQ(output.at("images").size(), 1u);
  EXPECT_EQ(fake_.takes().size(), 1u) << "a job was taken after SIGTERM";
}

}  // namespace
}  // namespace sdxlw
