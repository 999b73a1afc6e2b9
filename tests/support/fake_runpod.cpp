#include "support/fake_runpod.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace sdxlw::test {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

enum class Kind { take, result, progress, ping, other };

}  // namespace

std::string RecordedRequest::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? "" : it->second;
}

std::string RecordedRequest::param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

bool RecordedRequest::has_param(const std::string& name) const { return params.count(name) > 0; }

nlohmann::json RecordedRequest::json() const { return nlohmann::json::parse(body, nullptr, false); }

struct FakeRunpod::State {
  mutable std::mutex mutex;
  mutable std::condition_variable cv;  // any request, any pushed reply, shutdown
  std::deque<FakeReply> take_replies;
  std::deque<int> done_statuses;
  std::chrono::milliseconds take_hold{200};
  std::vector<std::pair<Kind, RecordedRequest>> requests;
  bool shutting_down = false;

  std::unique_ptr<httplib::Server> server;
  std::thread thread;

  RecordedRequest record(const httplib::Request& req, std::string body) {
    RecordedRequest r;
    r.method = req.method;
    r.path = req.path;
    r.target = req.target;
    for (const auto& [k, v] : req.params) r.params.emplace(k, v);
    for (const auto& [k, v] : req.headers) r.headers.emplace(lower(k), v);
    r.body = std::move(body);
    r.at = std::chrono::steady_clock::now();
    return r;
  }

  void store(Kind kind, RecordedRequest r) {
    std::lock_guard<std::mutex> lock(mutex);
    requests.emplace_back(kind, std::move(r));
    cv.notify_all();
  }

  void take(const httplib::Request& req, httplib::Response& res) {
    // Recorded on arrival (so a test sees a long-poll in flight); the status is filled in later.
    size_t index;
    {
      std::lock_guard<std::mutex> lock(mutex);
      index = requests.size();
      requests.emplace_back(Kind::take, record(req, req.body));
      cv.notify_all();
    }
    FakeReply reply{204, "", "application/json"};
    {
      std::unique_lock<std::mutex> lock(mutex);
      cv.wait_for(lock, take_hold, [this] { return shutting_down || !take_replies.empty(); });
      if (!take_replies.empty() && !shutting_down) {
        reply = take_replies.front();
        take_replies.pop_front();
      }
      requests[index].second.reply_status = reply.status;
    }
    res.set_header("X-Fake-Runpod", "take");
    res.status = reply.status;
    if (!reply.body.empty() || reply.status == 200) res.set_content(reply.body, reply.content_type);
  }

  void done(const httplib::Request& req, httplib::Response& res,
            const httplib::ContentReader& reader) {
    // A content reader, because httplib caps form-urlencoded bodies (which is what job-done
    // sends, like the Python SDK) at 8 KiB otherwise.
    std::string body;
    reader([&](const char* data, size_t n) {
      body.append(data, n);
      return true;
    });
    RecordedRequest r = record(req, std::move(body));
    auto parsed = r.json();
    bool is_progress = parsed.is_object() && parsed.value("status", "") == "IN_PROGRESS";
    int status = 200;
    if (!is_progress) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!done_statuses.empty()) {
        status = done_statuses.front();
        done_statuses.pop_front();
      }
    }
    res.set_header("X-Fake-Runpod", "done");
    res.status = status;
    res.set_content(status < 300 ? "{}" : "{\"error\": \"scripted failure\"}", "application/json");
    r.reply_status = status;
    store(is_progress ? Kind::progress : Kind::result, std::move(r));
  }

  void ping(const httplib::Request& req, httplib::Response& res) {
    RecordedRequest r = record(req, req.body);
    res.status = 200;
    res.set_content("{}", "application/json");
    r.reply_status = 200;
    store(Kind::ping, std::move(r));
  }

  std::vector<RecordedRequest> of(Kind kind) const {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<RecordedRequest> out;
    for (const auto& [k, r] : requests)
      if (k == kind) out.push_back(r);
    return out;
  }
};

FakeRunpod::FakeRunpod(std::string endpoint)
    : endpoint_(std::move(endpoint)), state_(std::make_shared<State>()) {
  listen(0);
}

FakeRunpod::~FakeRunpod() { shut_down(); }

void FakeRunpod::listen(int port) {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.shutting_down = false;
  }
  s.server = std::make_unique<httplib::Server>();
  httplib::Server& server = *s.server;
  server.set_keep_alive_timeout(1);  // idle keep-alive connections must not delay shut_down()
  std::string prefix = "/v2/" + endpoint_;
  server.Get(prefix + "/job-take/([^/]+)",
             [&s](const httplib::Request& req, httplib::Response& res) { s.take(req, res); });
  server.Post(prefix + "/job-done/([^/]+)/([^/]+)",
              [&s](const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader) { s.done(req, res, reader); });
  server.Get(prefix + "/ping/([^/]+)",
             [&s](const httplib::Request& req, httplib::Response& res) { s.ping(req, res); });
  server.set_error_handler(
      httplib::Server::Handler([&s](const httplib::Request& req, httplib::Response& res) {
        if (res.has_header("X-Fake-Runpod")) return;  // a scripted error status
        RecordedRequest r = s.record(req, req.body);
        r.reply_status = res.status;
        s.store(Kind::other, std::move(r));
      }));

  if (port == 0) {
    port_ = server.bind_to_any_port("127.0.0.1");
    if (port_ < 0) throw std::runtime_error("fake runpod: cannot bind 127.0.0.1");
  } else if (!server.bind_to_port("127.0.0.1", port)) {
    throw std::runtime_error("fake runpod: cannot bind 127.0.0.1:" + std::to_string(port));
  }
  s.thread = std::thread([&server] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void FakeRunpod::shut_down() {
  State& s = *state_;
  if (!s.server) return;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.shutting_down = true;
    s.cv.notify_all();
  }
  s.server->stop();
  s.thread.join();
  s.server.reset();
}

void FakeRunpod::go_down() { shut_down(); }

void FakeRunpod::come_up() {
  if (state_->server) return;
  listen(port_);
}

std::string FakeRunpod::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string FakeRunpod::job_take_url() const {
  return base_url() + "/v2/" + endpoint_ + "/job-take/$ID?gpu=TEST";
}

std::string FakeRunpod::job_done_url() const {
  return base_url() + "/v2/" + endpoint_ + "/job-done/$RUNPOD_POD_ID/$ID?gpu=TEST";
}

std::string FakeRunpod::ping_url() const {
  return base_url() + "/v2/" + endpoint_ + "/ping/$RUNPOD_POD_ID?gpu=TEST";
}

void FakeRunpod::push_job(const nlohmann::json& job) {
  push_take_reply(FakeReply{200, job.dump(), "application/json"});
}

void FakeRunpod::push_take_reply(FakeReply reply) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->take_replies.push_back(std::move(reply));
  state_->cv.notify_all();
}

void FakeRunpod::set_take_hold(std::chrono::milliseconds hold) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->take_hold = hold;
}

void FakeRunpod::push_done_status(int status) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->done_statuses.push_back(status);
}

std::vector<RecordedRequest> FakeRunpod::takes() const { return state_->of(Kind::take); }
std::vector<RecordedRequest> FakeRunpod::results() const { return state_->of(Kind::result); }
std::vector<RecordedRequest> FakeRunpod::progress() const { return state_->of(Kind::progress); }
std::vector<RecordedRequest> FakeRunpod::pings() const { return state_->of(Kind::ping); }

std::vector<RecordedRequest> FakeRunpod::accepted_results() const {
  auto all_results = results();
  std::vector<RecordedRequest> out;
  for (auto& r : all_results)
    if (r.reply_status >= 200 && r.reply_status < 300) out.push_back(std::move(r));
  return out;
}

std::vector<RecordedRequest> FakeRunpod::all() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::vector<RecordedRequest> out;
  for (const auto& [k, r] : state_->requests) out.push_back(r);
  return out;
}

bool FakeRunpod::wait_until(const std::function<bool()>& condition,
                            std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::unique_lock<std::mutex> lock(state_->mutex);
    size_t seen = state_->requests.size();
    state_->cv.wait_for(lock, std::chrono::milliseconds(20),
                        [&] { return state_->requests.size() != seen; });
  }
}

}  // namespace sdxlw::test
