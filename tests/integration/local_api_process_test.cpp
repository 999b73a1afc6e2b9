// The real sdxl-worker serving the local API (--rp_serve_api) with the fixture checkpoint:
// /runsync answers with the output local mode prints for the same job, /run + /status finish
// queued jobs, and malformed JSON or a wrong content type get a 400 with a readable error.

#include <signal.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "integration/worker_harness.h"
#include "support/fake_civitai.h"

namespace sdxlw {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class LocalApiProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    // A free port, found by binding it and letting it go: another process may take it in
    // between, so a worker that cannot listen is started again on another one.
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = test::closed_port();
      worker_ = std::make_unique<test::Subprocess>(
          test::worker_exe(),
          test::worker_options(models_.args({"--rp_serve_api", "--rp_api_port", std::to_string(port_)})));
      if (worker_->wait_for_err("local api: serving on", 180s)) break;
      if (worker_->err().find("local api: cannot listen") == std::string::npos) break;
    }
    ASSERT_NE(worker_->err().find("local api: serving on"), std::string::npos) << log();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(300, 0);
  }

  void TearDown() override {
    if (!worker_ || !worker_->running()) return;
    worker_->send_signal(SIGTERM);
    EXPECT_TRUE(worker_->wait_or_kill(180s)) << "no exit after SIGTERM\n" << log();
    EXPECT_EQ(worker_->status_text(), "exit 0") << log();
  }

  // The answer's status and its body parsed (null when the body is not JSON).
  std::pair<int, json> post(const std::string& path, const std::string& body,
                            const std::string& content_type = "application/json") {
    auto res = client_->Post(path, body, content_type);
    if (!res) {
      ADD_FAILURE() << "POST " << path << " failed: " << httplib::to_string(res.error()) << "\n" << log();
      return {0, json()};
    }
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  std::pair<int, json> get(const std::string& path) {
    auto res = client_->Get(path);
    if (!res) {
      ADD_FAILURE() << "GET " << path << " failed: " << httplib::to_string(res.error()) << "\n" << log();
      return {0, json()};
    }
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  std::string log() const { return "worker " + worker_->status_text() + ", its log:\n" + worker_->err(); }

  test::ModelSet models_;
  int port_ = 0;
  std::unique_ptr<test::Subprocess> worker_;
  std::unique_ptr<httplib::Client> client_;
};

// Output fields that legitimately differ between two runs of one job.
json without_timings(json output) {
  output.erase("timings_ms");
  return output;
}

TEST_F(LocalApiProcess, RunsyncAnswersWithTheSameOutputAsLocalMode) {
  const json job = test::fixture_job("07_lora_a_0.8");
  const auto [status, answer] = post("/runsync", job.dump());
  ASSERT_EQ(status, 200) << answer.dump() << "\n" << log();
  EXPECT_EQ(answer.at("status"), "COMPLETED") << answer.dump().substr(0, 500);
  EXPECT_EQ(answer.at("id").get<std::string>().rfind("test-", 0), 0u) << answer.at("id");

  const test::ProcessResult local = models_.run_job(job.dump());
  ASSERT_EQ(local.exit_code, 0) << test::describe(local);
  const json expected = test::parse_document(local);
  ASSERT_TRUE(expected.contains("images")) << local.out.substr(0, 500);
  EXPECT_TRUE(answer.at("output").at("timings_ms").is_object());
  EXPECT_EQ(without_timings(answer.at("output")), without_timings(expected));
}

TEST_F(LocalApiProcess, RunThenStatusFinishesQueuedJobs) {
  const auto [status_a, queued_a] = post("/run", json{{"input", test::small_input(81, 10)}}.dump());
  const auto [status_b, queued_b] = post("/run", json{{"input", test::small_input(82)}}.dump());
  ASSERT_EQ(status_a, 200) << queued_a.dump();
  ASSERT_EQ(status_b, 200) << queued_b.dump();
  EXPECT_EQ(queued_a.at("status"), "IN_QUEUE");
  EXPECT_EQ(queued_b.at("status"), "IN_QUEUE");
  const std::string id_a = queued_a.at("id"), id_b = queued_b.at("id");
  EXPECT_NE(id_a, id_b);

  // Polled with GET for one job and POST for the other, as RunPod accepts both.
  auto poll = [&](const std::string& id, bool with_post) {
    json last;
    const auto deadline = std::chrono::steady_clock::now() + 300s;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto [code, answer] = with_post ? post("/status/" + id, "{}") : get("/status/" + id);
      EXPECT_EQ(code, 200) << answer.dump();
      last = answer;
      const std::string s = answer.value("status", "");
      EXPECT_TRUE(s == "IN_QUEUE" || s == "IN_PROGRESS" || s == "COMPLETED") << answer.dump().substr(0, 500);
      if (s != "IN_QUEUE" && s != "IN_PROGRESS") break;
      std::this_thread::sleep_for(50ms);
    }
    return last;
  };
  const json done_a = poll(id_a, false);
  const json done_b = poll(id_b, true);
  ASSERT_EQ(done_a.value("status", ""), "COMPLETED") << done_a.dump().substr(0, 500) << "\n" << log();
  ASSERT_EQ(done_b.value("status", ""), "COMPLETED") << done_b.dump().substr(0, 500) << "\n" << log();
  EXPECT_EQ(done_a.at("id"), id_a);
  EXPECT_EQ(done_a.at("output").at("seed"), 81);
  EXPECT_EQ(done_a.at("output").at("parameters").at("num_inference_steps"), 10);
  EXPECT_EQ(done_a.at("output").at("images").size(), 1u);
  EXPECT_EQ(done_b.at("output").at("seed"), 82);

  const auto [unknown_status, unknown] = get("/status/no-such-job");
  EXPECT_EQ(unknown_status, 404);
  EXPECT_EQ(unknown.at("error"), "Job ID not found");

  const auto [health_status, health] = get("/health");
  EXPECT_EQ(health_status, 200);
  EXPECT_EQ(health.at("jobs").at("completed"), 2);
  EXPECT_EQ(health.at("ready"), true);
}

TEST_F(LocalApiProcess, MalformedJsonAndAWrongContentTypeGet400WithAReadableError) {
  const auto [bad_json_status, bad_json] = post("/runsync", R"({"input": {"prompt": "a cat",)");
  EXPECT_EQ(bad_json_status, 400);
  ASSERT_TRUE(bad_json.is_object() && bad_json.at("error").is_string()) << bad_json.dump();
  EXPECT_EQ(bad_json.at("error").get<std::string>().rfind("request body is not valid JSON: ", 0), 0u) << bad_json;
  EXPECT_EQ(bad_json.at("error").get<std::string>().find("json.exception"), std::string::npos) << bad_json;

  const auto [wrong_type_status, wrong_type] = post("/run", json{{"input", test::small_input(1)}}.dump(), "text/plain");
  EXPECT_EQ(wrong_type_status, 400);
  EXPECT_EQ(wrong_type, json({{"error", "Content-Type must be application/json (got \"text/plain\")"}}));

  const auto [no_input_status, no_input] = post("/runsync", R"({"prompt": "a cat"})");
  EXPECT_EQ(no_input_status, 400);
  EXPECT_EQ(no_input, json({{"error", "request body has no \"input\": expected {\"input\": {...}}"}}));

  // A job that fails validation is a FAILED job, not an HTTP error.
  const auto [invalid_status, invalid] = post("/runsync", json{{"input", {{"prompt", "a cat"}, {"width", 1000}}}}.dump());
  EXPECT_EQ(invalid_status, 200);
  EXPECT_EQ(invalid.at("status"), "FAILED");
  EXPECT_EQ(invalid.at("error"), "invalid input: width must be a multiple of 64 (got 1000)");

  // The worker goes on serving.
  const auto [ok_status, ok] = post("/runsync", json{{"input", test::small_input(3)}}.dump());
  EXPECT_EQ(ok_status, 200);
  EXPECT_EQ(ok.at("status"), "COMPLETED") << ok.dump().substr(0, 500);
  EXPECT_EQ(ok.at("output").at("seed"), 3);
}

}  // namespace
}  // namespace sdxlw
