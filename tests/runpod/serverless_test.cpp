#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <thread>

#include "runpod/fake_engine.h"
#include "runpod/job_handler.h"
#include "runpod/job_output.h"
#include "runpod/serverless_worker.h"
#include "support/fake_runpod.h"
#include "util/version.h"

using namespace std::chrono_literals;
using nlohmann::json;
using sdxlw::test::FakeEngine;
using sdxlw::test::FakeReply;
using sdxlw::test::FakeRunpod;
using sdxlw::test::RecordedRequest;

namespace {

constexpr const char* kKey = "rp-key-123";
constexpr const char* kWorker = "worker-1";

sdxlw::JobValidationContext context() {
  sdxlw::JobValidationContext c;
  c.known_loras = {{"lora_a", 1.0}};
  c.random_seed = [] { return uint64_t{1234}; };
  return c;
}

// Small timings so that every retry and wait path runs in milliseconds.
sdxlw::ServerlessConfig test_config(const FakeRunpod& fake) {
  sdxlw::ServerlessConfig c;
  c.job_take_url = fake.job_take_url();
  c.job_done_url = fake.job_done_url();
  c.ping_url = fake.ping_url();
  c.worker_id = kWorker;
  c.api_key = kKey;
  c.ping_interval = 100ms;
  c.job_take_timeout = 10s;
  c.no_job_interval = 20ms;
  c.too_many_requests_wait = 300ms;
  c.take_backoff_initial = 50ms;
  c.take_backoff_max = 200ms;
  c.result_backoff_initial = 50ms;
  c.result_backoff_max = 400ms;
  c.result_retry_window = 20s;
  c.result_timeout = 5s;
  c.progress_every_steps = 5;
  c.progress_timeout = 2s;
  return c;
}

json valid_input(int seed, int steps = 2) {
  return {{"prompt", "a lighthouse"}, {"width", 64}, {"height", 64},
          {"num_inference_steps", steps}, {"seed", seed}};
}

json job(const std::string& id, const json& input) { return {{"id", id}, {"input", input}}; }

// run_serverless on its own thread against a fake RunPod.
class Worker {
 public:
  explicit Worker(const FakeRunpod& fake) : config(test_config(fake)), handler(engine, context()) {}
  ~Worker() { finish(); }

  void start() {
    thread_ = std::thread([this] { code_ = sdxlw::run_serverless(config, handler, stop); });
  }
  int finish() {
    stop = true;
    return join();
  }
  int join() {
    if (thread_.joinable()) thread_.join();
    return code_;
  }

  FakeEngine engine;
  sdxlw::ServerlessConfig config;
  sdxlw::JobHandler handler;
  std::atomic<bool> stop{false};

 private:
  std::thread thread_;
  int code_ = -1;
};

// Starts the worker, waits until `n` results were accepted, then stops it (false: they never came).
bool run_until_delivered(const FakeRunpod& fake, Worker& worker, size_t n) {
  worker.start();
  const bool delivered = fake.wait_until([&] { return fake.accepted_results().size() == n; });
  worker.finish();
  return delivered;
}

std::string path_job_id(const RecordedRequest& r) { return r.path.substr(r.path.rfind('/') + 1); }

long long ms_between(const RecordedRequest& a, const RecordedRequest& b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b.at - a.at).count();
}

}  // namespace

TEST(Serverless, JobTakeUsesTheSdkUrlQueryAndHeaders) {
  FakeRunpod fake;
  fake.push_job(job("job-1", valid_input(1)));
  Worker worker(fake);
  ASSERT_TRUE(run_until_delivered(fake, worker, 1));

  auto take = fake.takes().at(0);
  EXPECT_EQ(take.method, "GET");
  EXPECT_EQ(take.target, "/v2/ep-test/job-take/worker-1?gpu=TEST&job_in_progress=0");
  EXPECT_EQ(take.header("Authorization"), kKey);  // raw, no "Bearer"
  EXPECT_EQ(take.header("Content-Type"), "application/json");
  EXPECT_EQ(take.header("User-Agent").rfind(std::string("sdxl-worker/") + sdxlw::kVersion + " (", 0), 0u)
      << take.header("User-Agent");
  for (const auto& r : fake.all()) EXPECT_NE(r.reply_status, 404) << "unexpected request " << r.target;
}

TEST(Serverless, JobTakeTemplateMayNameThePodId) {
  FakeRunpod fake;
  Worker worker(fake);
  worker.config.job_take_url = fake.base_url() + "/v2/ep-test/job-take/$RUNPOD_POD_ID";
  fake.push_job(job("job-1", valid_input(1)));
  ASSERT_TRUE(run_until_delivered(fake, worker, 1));
  EXPECT_EQ(fake.takes().at(0).target, "/v2/ep-test/job-take/worker-1?job_in_progress=0");
}

TEST(Serverless, JobDonePostsTheOutputWithTheSdkUrlAndHeaders) {
  FakeRunpod fake;
  fake.push_job(job("job-1", valid_input(7)));
  Worker worker(fake);
  ASSERT_TRUE(run_until_delivered(fake, worker, 1));

  auto done = fake.results().at(0);
  EXPECT_EQ(done.method, "POST");
  EXPECT_EQ(done.target, "/v2/ep-test/job-done/worker-1/job-1?gpu=TEST&isStream=false");
  EXPECT_EQ(done.header("Authorization"), kKey);
  EXPECT_EQ(done.header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(done.header("charset"), "utf-8");
  EXPECT_EQ(done.header("X-Request-ID"), "job-1");

  FakeEngine same_engine;
  sdxlw::JobHandler same_handler(same_engine, context());
  json expected = same_handler.handle(job("job-1", valid_input(7)));
  EXPECT_EQ(done.json(), json({{"output", expected}}));
}

TEST(Serverless, ProgressGoesToJobDoneEveryFiveStepsBeforeTheResult) {
  FakeRunpod fake;
  Worker worker(fake);
  // Wait for each update to arrive before going on, so none is coalesced away.
  worker.engine.on_step = [&](int step) {
    if (step % 5 == 0)
      fake.wait_until([&] { return fake.progress().size() >= static_cast<size_t>(step / 5); });
  };
  fake.push_job(job("job-p", valid_input(1, 12)));
  ASSERT_TRUE(run_until_delivered(fake, worker, 1));

  auto progress = fake.progress();
  ASSERT_EQ(progress.size(), 2u);
  for (size_t i = 0; i < progress.size(); ++i) {
    int step = 5 * static_cast<int>(i + 1);
    EXPECT_EQ(progress[i].target, "/v2/ep-test/job-done/worker-1/job-p?gpu=TEST&isStream=false");
    EXPECT_EQ(progress[i].header("Authorization"), kKey);
    EXPECT_EQ(progress[i].json(),
              json({{"status", "IN_PROGRESS"},
                    {"output", {{"step", step}, {"total_steps", 12}, {"percent", std::lround(100.0 * step / 12)}}}}));
    EXPECT_LT(progress[i].at, fake.results().at(0).at);
  }
}

TEST(Serverless, PingsCarryTheRunningJobAndKeepTheirInterval) {
  FakeRunpod fake;
  Worker worker(fake);
  worker.engine.hold_at_step(2);
  fake.push_job(job("job-long", valid_input(1, 3)));
  worker.start();
  ASSERT_TRUE(worker.engine.wait_held());
  auto with_job = [&] {
    size_t n = 0;
    for (const auto& p : fake.pings()) n += p.param("job_id") == "job-long";
    return n;
  };
  ASSERT_TRUE(fake.wait_until([&] { return with_job() >= 8; }));
  worker.engine.release();
  ASSERT_TRUE(fake.wait_until([&] { return fake.accepted_results().size() == 1; }));
  auto delivered = fake.accepted_results()[0].at;
  ASSERT_TRUE(fake.wait_until([&] {
    auto pings = fake.pings();
    return pings.back().at > delivered && !pings.back().has_param("job_id");
  }));
  worker.finish();

  auto pings = fake.pings();
  EXPECT_FALSE(pings.front().has_param("job_id"));  // the first ping is sent before any job
  for (const auto& p : pings) {
    EXPECT_EQ(p.path, "/v2/ep-test/ping/worker-1");
    EXPECT_EQ(p.param("gpu"), "TEST");
    EXPECT_EQ(p.header("Authorization"), kKey);
  }
  // Beats are scheduled on a fixed 100 ms grid, so one late request is followed by an early one:
  // each gap is bounded above (never silenced) and the mean pins the interval.
  for (size_t i = 1; i < pings.size(); ++i) {
    EXPECT_LE(ms_between(pings[i - 1], pings[i]), 400) << "ping " << i;
  }
  const double mean_ms = static_cast<double>(ms_between(pings.front(), pings.back())) / (pings.size() - 1);
  EXPECT_GE(mean_ms, 80);
  EXPECT_LE(mean_ms, 150);
}

TEST(Serverless, TwentyJobsInARowAreEachAnsweredCorrectly) {
  FakeRunpod fake;
  std::map<std::string, std::string> expected_error;  // job id → error ("" = success)
  int valid = 0;
  for (int i = 0; i < 20; ++i) {
    std::string id = "job-" + std::to_string(i);
    if (i % 5 == 1) {
      fake.push_job(job(id, {{"prompt", "p"}, {"width", 1000}}));
      expected_error[id] = "invalid input: width must be a multiple of 64 (got 1000)";
    } else if (i % 5 == 3) {
      fake.push_job(json{{"id", id}});
      expected_error[id] = "job has no input: expected {\"input\": {\"prompt\": ...}}";
    } else if (i == 10) {
      fake.push_job(job(id, "just a prompt"));
      expected_error[id] = "invalid input: input must be a JSON object, not a string";
    } else {
      fake.push_job(job(id, valid_input(i)));
      expected_error[id] = "";
      ++valid;
    }
  }
  Worker worker(fake);
  ASSERT_TRUE(run_until_delivered(fake, worker, 20));

  auto results = fake.results();
  ASSERT_EQ(results.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    const auto& r = results[i];
    std::string id = "job-" + std::to_string(i);
    EXPECT_EQ(path_job_id(r), id);
    EXPECT_EQ(r.header("X-Request-ID"), id);
    json body = r.json();
    if (expected_error[id].empty()) {
      EXPECT_EQ(body["output"]["seed"], i) << id;
      EXPECT_EQ(body["output"]["images"].size(), 1u) << id;
      EXPECT_FALSE(body.contains("error")) << id;
    } else {
      EXPECT_EQ(body, json({{"error", expected_error[id]}})) << id;
    }
  }
  EXPECT_EQ(worker.engine.requests().size(), static_cast<size_t>(valid));
}

TEST(Serverless, JobDoneFailingTwiceWith500IsRetriedAndDeliveredOnce) {
  FakeRunpod fake;
  fake.push_done_status(500);
  fake.push_done_status(500);
  fake.push_job(job("job-1", valid_input(1)));
  Worker worker(fake);
  worker.start();
  ASSERT_TRUE(fake.wait_until([&] { return fake.accepted_results().size() == 1; }));
  fake.push_job(job("job-2", valid_input(2)));
  ASSERT_TRUE(fake.wait_until([&] { return fake.accepted_results().size() == 2; }));
  worker.finish();

  auto results = fake.results();
  ASSERT_EQ(results.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(path_job_id(results[i]), "job-1");
    EXPECT_EQ(results[i].body, results[0].body);
  }
  EXPECT_EQ(results[0].reply_status, 500);
  EXPECT_EQ(results[1].reply_status, 500);
  EXPECT_EQ(results[2].reply_status, 200);
  EXPECT_EQ(path_job_id(results[3]), "job-2");
  EXPECT_GE(ms_between(results[0], results[1]), 50);   // back-off
  EXPECT_GE(ms_between(results[1], results[2]), 100);
}

TEST(Serverless, ResultIsDeliveredWhenRefusedConnectionsEnd) {
  FakeRunpod fake;
  Worker worker(fake);
  worker.engine.hold_at_step(1);
  fake.push_job(job("job-1", valid_input(3)));
  worker.start();
  ASSERT_TRUE(worker.engine.wait_held());
  fake.go_down();
  worker.engine.release();
  std::this_thread::sleep_for(2s);  // the outage itself
  fake.come_up();
  ASSERT_TRUE(fake.wait_until([&] { return fake.accepted_results().size() == 1; }, 10s));
  EXPECT_EQ(fake.accepted_results()[0].json()["output"]["seed"], 3);

  fake.push_job(job("job-2", valid_input(4)));  // job-take works again too
  ASSERT_TRUE(fake.wait_until([&] { return fake.accepted_results().size() == 2; }));
  worker.finish();
  EXPECT_EQ(fake.results().size(), 2u);
}

TEST(Serverless, TooManyRequestsOnJobTakeWaitsBeforeAskingAgain) {
  FakeRunpod fake;
  fake.push_take_reply(FakeReply{429, "", "application/json"});
  fake.push_job(job("job-1", valid_input(1)));
  Worker worker(fake);
  ASSERT_TRUE(run_until_delivered(fake, worker, 1));
  auto takes = fake.takes();
  ASSERT_GE(takes.size(), 2u);
  EXPECT_EQ(takes[0].reply_status, 429);
  EXPECT_EQ(takes[1].reply_status, 200);
  EXPECT_GE(ms_between(takes[0], takes[1]), 300);
}

TEST(Serverless, JobTakeServerErrorsBackOffExponentially) {
  FakeRunpod fake;
  fake.push_take_reply(FakeReply{500, "oops", "text/plain"});
  fake.push_take_reply(FakeReply{503, "", "text/plain"});
  fake.push_take_reply(FakeReply{502, "", "text/plain"});
  fake.push_job(job("job-1", valid_input(1)));
  Worker worker(fake);
  ASSERT_TRUE(run_until_delivered(fake, worker, 1));
  auto takes = fake.takes();
  ASSERT_GE(takes.size(), 4u);
  EXPECT_GE(ms_between(takes[0], takes[1]), 50);
  EXPECT_GE(ms_between(takes[1], takes[2]), 100);
  EXPECT_GE(ms_between(takes[2], takes[3]), 200);
}

TEST(Serverless, JobWithoutInputIsAnsweredWithAnErrorAndTheWorkerGoesOn) {
  FakeRunpod fake;
  fake.push_job(json{{"id", "no-input"}});
  fake.push_job(job("job-2", valid_input(2)));
  Worker worker(fake);
  ASSERT_TRUE(run_until_delivered(fake, worker, 2));
  auto results = fake.results();
  EXPECT_EQ(path_job_id(results[0]), "no-input");
  EXPECT_EQ(results[0].json(), json({{"error", "job has no input: expected {\"input\": {\"prompt\": ...}}"}}));
  EXPECT_EQ(results[1].json()["output"]["seed"], 2);
}

TEST(Serverless, UnusableJobTakeAnswersAreLoggedAndSkipped) {
  FakeRunpod fake;
  fake.push_take_reply(FakeReply{200, "", "application/json"});
  fake.push_take_reply(FakeReply{200, "<html>gateway</html>", "text/html"});
  fake.push_take_reply(FakeReply{200, R"({"input": {"prompt": "no id"}})", "application/json"});
  fake.push_take_reply(FakeReply{200, R"({"id": 17, "input": {}})", "application/json"});
  fake.push_take_reply(FakeReply{200, "[1, 2]", "application/json"});
  fake.push_job(job("job-ok", valid_input(5)));
  Worker worker(fake);
  ASSERT_TRUE(run_until_delivered(fake, worker, 1));
  EXPECT_EQ(fake.results().size(), 1u);
  EXPECT_EQ(path_job_id(fake.results()[0]), "job-ok");
  EXPECT_GE(fake.takes().size(), 6u);
}

TEST(Serverless, StopDuringAJobDeliversItsResultAndReturnsZero) {
  FakeRunpod fake;
  Worker worker(fake);
  worker.engine.hold_at_step(2);
  fake.push_job(job("job-1", valid_input(9, 4)));
  worker.start();
  ASSERT_TRUE(worker.engine.wait_held());
  worker.stop = true;
  worker.engine.release();
  EXPECT_EQ(worker.join(), 0);
  ASSERT_EQ(fake.accepted_results().size(), 1u);
  EXPECT_EQ(fake.accepted_results()[0].json()["output"]["seed"], 9);
  EXPECT_EQ(fake.takes().size(), 1u);  // no job taken after the stop
}

TEST(Serverless, StopInterruptsAJobTakeLongPoll) {
  FakeRunpod fake;
  fake.set_take_hold(30s);
  Worker worker(fake);
  worker.start();
  ASSERT_TRUE(fake.wait_until([&] { return !fake.takes().empty(); }));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(worker.finish(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(Serverless, LongPollOutlastingItsTimeoutIsAskedAgainWithoutBackOff) {
  FakeRunpod fake;
  fake.set_take_hold(2s);
  Worker worker(fake);
  worker.config.job_take_timeout = 200ms;
  worker.config.take_backoff_initial = 2s;  // would show as a long gap
  worker.start();
  ASSERT_TRUE(fake.wait_until([&] { return fake.takes().size() >= 3; }, 5s));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(worker.finish(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  auto takes = fake.takes();
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_GE(ms_between(takes[i - 1], takes[i]), 190);
    EXPECT_LT(ms_between(takes[i - 1], takes[i]), 1500);
  }
}

TEST(Serverless, UnusableEngineSendsStopPodAndStopsTakingJobs) {
  FakeRunpod fake;
  Worker worker(fake);
  worker.engine.throw_message = "CUDA error: device-side assert triggered";
  worker.engine.throw_unusable = true;
  fake.push_job(job("job-1", valid_input(1)));
  fake.push_job(job("job-2", valid_input(2)));
  worker.start();
  EXPECT_EQ(worker.join(), 1);  // returns by itself
  ASSERT_EQ(fake.results().size(), 1u);
  EXPECT_EQ(fake.results()[0].json(),
            json({{"error", "CUDA error: device-side assert triggered"}, {"stopPod", true}}));
  EXPECT_EQ(fake.takes().size(), 1u);
}

TEST(Serverless, ResultRefusedAsTooLargeIsReplacedByAnError) {
  FakeRunpod fake;
  fake.push_done_status(413);
  fake.push_job(job("job-1", valid_input(1)));
  Worker worker(fake);
  ASSERT_TRUE(run_until_delivered(fake, worker, 1));
  auto results = fake.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].json().contains("output"));
  std::string error = results[1].json().at("error");
  EXPECT_NE(error.find("could not deliver"), std::string::npos) << error;
  EXPECT_NE(error.find("HTTP 413"), std::string::npos) << error;
}

TEST(Serverless, ClientErrorOnJobDoneIsNotRetried) {
  FakeRunpod fake;
  fake.push_done_status(404);
  fake.push_job(job("job-gone", valid_input(1)));
  fake.push_job(job("job-2", valid_input(2)));
  Worker worker(fake);
  ASSERT_TRUE(run_until_delivered(fake, worker, 1));
  auto results = fake.results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(path_job_id(results[0]), "job-gone");
  EXPECT_EQ(results[0].reply_status, 404);
  EXPECT_EQ(path_job_id(results[1]), "job-2");
}

TEST(Serverless, ConfigComesFromTheRunpodVariables) {
  std::map<std::string, std::string> vars = {{"RUNPOD_WEBHOOK_GET_JOB", "http://h/take/$ID"},
                                             {"RUNPOD_WEBHOOK_POST_OUTPUT", "http://h/done/$ID"},
                                             {"RUNPOD_WEBHOOK_PING", "http://h/ping/$RUNPOD_POD_ID"},
                                             {"RUNPOD_AI_API_KEY", "k"},
                                             {"RUNPOD_PING_INTERVAL", "3000"}};
  auto env = [&vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  // Without RUNPOD_POD_ID the heartbeat is off (as in the Python SDK).
  EXPECT_EQ(sdxlw::serverless_config(sdxlw::read_runpod_env(env)).ping_url, "");
  vars["RUNPOD_POD_ID"] = "pod-1";
  auto config = sdxlw::serverless_config(sdxlw::read_runpod_env(env));
  EXPECT_EQ(config.ping_url, "http://h/ping/$RUNPOD_POD_ID");
  EXPECT_EQ(config.worker_id, "pod-1");
  EXPECT_EQ(config.ping_interval, 3000ms);
  EXPECT_EQ(config.job_done_url, "http://h/done/$ID");
  vars.erase("RUNPOD_WEBHOOK_POST_OUTPUT");
  try {
    sdxlw::serverless_config(sdxlw::read_runpod_env(env));
    FAIL() << "accepted a configuration without a job-done URL";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("RUNPOD_WEBHOOK_POST_OUTPUT"), std::string::npos);
  }
}
