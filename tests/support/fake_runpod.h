#pragma once
// An in-process fake of RunPod's job API on 127.0.0.1 (cpp-httplib): job-take (a long-poll fed
// by push_job / scripted replies), job-done (final results with scripted statuses, and
// IN_PROGRESS updates), and ping. It records every request so tests can pin URLs, query
// parameters, headers, bodies and timing, and it can go down (connection refused) and come back
// on the same port. Torch-free, shared by the library tests and the executable's integration
// tests.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdxlw::test {

struct RecordedRequest {
  std::string method;
  std::string path;    // without the query string
  std::string target;  // path and query string as sent
  std::multimap<std::string, std::string> params;   // decoded query parameters
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  int reply_status = 0;
  std::chrono::steady_clock::time_point at;  // arrival

  std::string header(const std::string& name) const;  // "" when absent; any case
  std::string param(const std::string& name) const;   // "" when absent
  bool has_param(const std::string& name) const;
  nlohmann::json json() const;  // the body parsed; discarded when it is not JSON
};

struct FakeReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

class FakeRunpod {
 public:
  explicit FakeRunpod(std::string endpoint = "ep-test");
  ~FakeRunpod();
  FakeRunpod(const FakeRunpod&) = delete;
  FakeRunpod& operator=(const FakeRunpod&) = delete;

  int port() const { return port_; }
  std::string base_url() const;
  // URL templates as RunPod puts them into RUNPOD_WEBHOOK_GET_JOB / _POST_OUTPUT / _PING.
  std::string job_take_url() const;  // <base>/v2/<endpoint>/job-take/$ID?gpu=TEST
  std::string job_done_url() const;  // <base>/v2/<endpoint>/job-done/$RUNPOD_POD_ID/$ID?gpu=TEST
  std::string ping_url() const;      // <base>/v2/<endpoint>/ping/$RUNPOD_POD_ID?gpu=TEST

  // Job-take answers, used in order. With none queued, a job-take is held open for the hold time
  // (a long-poll: a job pushed meanwhile is answered at once) and then answered 204.
  void push_job(const nlohmann::json& job);
  void push_take_reply(FakeReply reply);
  void set_take_hold(std::chrono::milliseconds hold);

  // Statuses for the next final-result POSTs (job-done without "status": "IN_PROGRESS"), used
  // in order; 200 when none is queued. Progress updates are always answered 200.
  void push_done_status(int status);

  std::vector<RecordedRequest> takes() const;
  std::vector<RecordedRequest> results() const;  // every final-result POST, failed ones included
  std::vector<RecordedRequest> accepted_results() const;  // those answered 2xx
  std::vector<RecordedRequest> progress() const;
  std::vector<RecordedRequest> pings() const;
  std::vector<RecordedRequest> all() const;  // every request, in arrival order

  // Waits until `condition` holds (checked after every request and every 20 ms) or the timeout
  // passes; returns whether it holds.
  bool wait_until(const std::function<bool()>& condition,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

  // Stops listening, so connections are refused, until come_up() listens on the same port again.
  void go_down();
  void come_up();

 private:
  struct State;
  void listen(int port);
  void shut_down();

  std::string endpoint_;
  int port_ = 0;
  std::shared_ptr<State> state_;
};

}  // namespace sdxlw::test
