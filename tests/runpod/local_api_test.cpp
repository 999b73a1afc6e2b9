#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>
#include <sstream>
#include <thread>

#include "runpod/fake_engine.h"
#include "runpod/job_handler.h"
#include "runpod/local_api.h"
#include "runpod/local_mode.h"

using namespace std::chrono_literals;
using nlohmann::json;
using sdxlw::test::FakeEngine;

namespace {

sdxlw::JobValidationContext context() {
  sdxlw::JobValidationContext c;
  c.known_loras = {{"lora_a", 1.0}};
  c.random_seed = [] { return uint64_t{4321}; };
  return c;
}

class Api {
 public:
  explicit Api(sdxlw::LocalApiOptions options = {}) : handler(engine, context()) {
    options.port = 0;
    api_ = std::make_unique<sdxlw::LocalApi>(handler, options);
    port = api_->start();
  }
  ~Api() { api_->stop(); }
  void stop() { api_->stop(); }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(20, 0);
    return c;
  }
  // The answer's status and JSON body.
  std::pair<int, json> post(const std::string& path, const std::string& body,
                            const std::string& type = "application/json") const {
    auto res = client().Post(path.c_str(), body, type.c_str());
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  std::pair<int, json> get(const std::string& path) const {
    auto res = client().Get(path.c_str());
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  // Polls /status until the job is finished.
  json wait_finished(const std::string& id) const {
    for (int i = 0; i < 2000; ++i) {
      auto [code, body] = get("/status/" + id);
      std::string status = body.value("status", "");
      if (status == "COMPLETED" || status == "FAILED") return body;
      std::this_thread::sleep_for(5ms);
    }
    return json();
  }

  FakeEngine engine;
  sdxlw::JobHandler handler;
  int port = 0;

 private:
  std::unique_ptr<sdxlw::LocalApi> api_;
};

const std::string kJob = R"({"input": {"prompt": "a red fox", "width": 64, "height": 64,
                                       "num_inference_steps": 3, "seed": 11, "num_images": 2}})";

}  // namespace

TEST(LocalApi, RunsyncAnswersWithTheSameOutputAsLocalMode) {
  Api api;
  auto [code, body] = api.post("/runsync", kJob);
  ASSERT_EQ(code, 200);
  EXPECT_EQ(body["status"], "COMPLETED");
  EXPECT_TRUE(std::regex_match(body["id"].get<std::string>(),
                               std::regex("test-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << body["id"];

  sdxlw::LocalRunOptions options;
  options.test_input = kJob;
  sdxlw::LocalRunHooks hooks;
  hooks.prepare = context;
  hooks.load_engine = [](const sdxlw::GenerationRequest&) { return std::make_unique<FakeEngine>(); };
  std::ostringstream out;
  ASSERT_EQ(sdxlw::run_local(options, hooks, out), 0);
  EXPECT_EQ(body["output"], json::parse(out.str()));
}

TEST(LocalApi, InvalidInputIsAFailedJobWithTheValidationMessage) {
  Api api;
  auto [code, body] = api.post("/runsync", R"({"input": {"prompt": "p", "width": 1000}})");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body["status"], "FAILED");
  EXPECT_EQ(body["error"], "invalid input: width must be a multiple of 64 (got 1000)");
  EXPECT_FALSE(body.contains("output"));
}

TEST(LocalApi, RunQueuesJobsAndStatusFollowsThemToCompletion) {
  Api api;
  api.engine.hold_at_step(2);
  auto [code1, first] = api.post("/run", kJob);
  auto [code2, second] = api.post("/run", R"({"input": {"prompt": "p", "num_inference_steps": 1, "seed": 3}})");
  ASSERT_EQ(code1, 200);
  ASSERT_EQ(code2, 200);
  EXPECT_EQ(first["status"], "IN_QUEUE");
  std::string id1 = first["id"], id2 = second["id"];
  EXPECT_NE(id1, id2);

  ASSERT_TRUE(api.engine.wait_held());
  auto [s1, running] = api.get("/status/" + id1);
  EXPECT_EQ(running["status"], "IN_PROGRESS");
  EXPECT_EQ(running["output"], json({{"step", 1}, {"total_steps", 3}, {"percent", 33}}));
  auto queued = api.client().Post(("/status/" + id2).c_str());  // POST works as well as GET
  ASSERT_TRUE(queued);
  EXPECT_EQ(json::parse(queued->body)["status"], "IN_QUEUE");
  auto [h, health] = api.get("/health");
  EXPECT_EQ(health, json({{"ready", true}, {"jobs", {{"completed", 0}, {"failed", 0}, {"inProgress", 1}, {"inQueue", 1}}}}));

  api.engine.release();
  json done1 = api.wait_finished(id1);
  json done2 = api.wait_finished(id2);
  EXPECT_EQ(done1["status"], "COMPLETED");
  EXPECT_EQ(done1["output"]["seed"], 11);
  EXPECT_EQ(done1["output"]["images"].size(), 2u);
  EXPECT_EQ(done2["output"]["seed"], 3);
}

TEST(LocalApi, UnknownJobIdIs404JobIdNotFound) {
  Api api;
  auto [code, body] = api.get("/status/test-nope");
  EXPECT_EQ(code, 404);
  EXPECT_EQ(body, json({{"id", "test-nope"}, {"status", "FAILED"}, {"error", "Job ID not found"}}));
}

TEST(LocalApi, HealthCountsFinishedJobs) {
  Api api;
  api.post("/runsync", kJob);
  api.post("/runsync", R"({"input": {"prompt": ""}})");
  api.post("/runsync", R"({"input": {"prompt": "p", "num_inference_steps": 1}})");
  auto [code, body] = api.get("/health");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, json({{"ready", true}, {"jobs", {{"completed", 2}, {"failed", 1}, {"inProgress", 0}, {"inQueue", 0}}}}));
}

TEST(LocalApi, BadRequestBodiesGet400WithAReadableErrorAndServingGoesOn) {
  Api api;
  auto [c1, malformed] = api.post("/runsync", R"({"input": {"prompt": "p",)");
  EXPECT_EQ(c1, 400);
  EXPECT_EQ(malformed["error"].get<std::string>().rfind("request body is not valid JSON: parse error at line 1, column 26", 0), 0u)
      << malformed;

  auto [c2, wrong_type] = api.post("/run", kJob, "text/plain");
  EXPECT_EQ(c2, 400);
  EXPECT_EQ(wrong_type, json({{"error", "Content-Type must be application/json (got \"text/plain\")"}}));

  auto [c3, form] = api.post("/runsync", std::string(20000, 'x'), "application/x-www-form-urlencoded");
  EXPECT_EQ(c3, 400);
  EXPECT_EQ(form, json({{"error", "Content-Type must be application/json (got \"application/x-www-form-urlencoded\")"}}));

  auto [c4, no_input] = api.post("/runsync", R"({"prompt": "p"})");
  EXPECT_EQ(c4, 400);
  EXPECT_EQ(no_input, json({{"error", "request body has no \"input\": expected {\"input\": {...}}"}}));

  auto [c5, not_object] = api.post("/runsync", "[1]");
  EXPECT_EQ(c5, 400);
  EXPECT_EQ(not_object, json({{"error", "request body must be a JSON object like {\"input\": {...}}"}}));

  auto [c6, charset] = api.post("/runsync", kJob, "application/json; charset=utf-8");
  EXPECT_EQ(c6, 200);
  EXPECT_EQ(charset["status"], "COMPLETED");
  EXPECT_EQ(api.engine.requests().size(), 1u);
}

TEST(LocalApi, UnknownRoutesAndWrongMethodsGetJsonErrors) {
  Api api;
  auto [c1, missing] = api.get("/nope");
  EXPECT_EQ(c1, 404);
  EXPECT_EQ(missing["error"].get<std::string>().rfind("no route GET /nope", 0), 0u) << missing;
  auto [c2, method] = api.get("/runsync");
  EXPECT_EQ(c2, 405);
  EXPECT_EQ(method, json({{"error", "/runsync takes POST with a JSON body {\"input\": {...}}"}}));
}

TEST(LocalApi, FullQueueAnswers429) {
  sdxlw::LocalApiOptions options;
  options.max_queued = 1;
  Api api(options);
  api.engine.hold_at_step(1);
  auto [c1, first] = api.post("/run", kJob);
  ASSERT_TRUE(api.engine.wait_held());
  auto [c2, second] = api.post("/run", kJob);
  auto [c3, third] = api.post("/run", kJob);
  EXPECT_EQ(c1, 200);
  EXPECT_EQ(c2, 200);
  EXPECT_EQ(c3, 429);
  EXPECT_EQ(third, json({{"error", "the queue is full (1 jobs waiting)"}}));
  api.engine.release();
}

TEST(LocalApi, StopFinishesTheRunningJobAndFailsTheQueuedOnes) {
  Api api;
  api.engine.hold_at_step(1);
  auto [c1, first] = api.post("/run", kJob);
  auto [c2, second] = api.post("/run", kJob);
  ASSERT_TRUE(api.engine.wait_held());
  std::thread stopper([&] { api.stop(); });
  // Once the stop has begun, new jobs are refused; then let the running one finish.
  for (int i = 0; i < 2000 && api.post("/run", kJob).first != 503; ++i) std::this_thread::sleep_for(2ms);
  EXPECT_EQ(api.post("/run", kJob), std::make_pair(503, json({{"error", "the worker is shutting down"}})));
  auto [c3, queued] = api.get("/status/" + second["id"].get<std::string>());
  EXPECT_EQ(queued, json({{"id", second["id"]}, {"status", "FAILED"},
                          {"error", "the worker shut down before running this job"}}));
  api.engine.release();
  stopper.join();
  EXPECT_EQ(api.engine.requests().size(), 1u);
  EXPECT_FALSE(api.get("/health").first == 200);  // no longer serving
}
