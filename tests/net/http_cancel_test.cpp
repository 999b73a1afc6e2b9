#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "net/http_client.h"

using namespace std::chrono_literals;

namespace {

// A server whose only route answers after `release()` (or after 20 s).
class SlowServer {
 public:
  SlowServer() {
    server_.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        arrived_ = true;
        cv_.notify_all();
        cv_.wait_for(lock, 20s, [this] { return released_; });
      }
      res.set_content("late", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~SlowServer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      released_ = true;
      cv_.notify_all();
    }
    server_.stop();
    thread_.join();
  }
  bool wait_arrived() {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, 10s, [this] { return arrived_; });
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/slow"; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool arrived_ = false;
  bool released_ = false;
};

}  // namespace

TEST(HttpCancel, CancelFlagAbortsARequestInFlight) {
  SlowServer server;
  std::atomic<bool> cancel{false};
  sdxlw::HttpRequest request;
  request.url = server.url();
  request.timeout_s = 30;
  request.cancel = &cancel;
  std::thread canceller([&] {
    server.wait_arrived();
    cancel = true;
  });
  auto start = std::chrono::steady_clock::now();
  sdxlw::HttpClient client;
  auto response = client.perform(request);
  canceller.join();
  EXPECT_TRUE(response.cancelled);
  EXPECT_EQ(response.error, "cancelled");
  EXPECT_EQ(response.status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(HttpCancel, AlreadySetFlagSendsNothing) {
  std::atomic<bool> cancel{true};
  sdxlw::HttpRequest request;
  request.url = "http://127.0.0.1:9/never";
  request.cancel = &cancel;
  sdxlw::HttpClient client;
  auto response = client.perform(request);
  EXPECT_TRUE(response.cancelled);
  EXPECT_EQ(response.error, "cancelled");
}
