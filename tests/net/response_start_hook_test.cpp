#include <httplib.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "net/http_client.h"

namespace sdxlw {
namespace {

class HookServer {
 public:
  HookServer() {
    server_.Get("/file", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(100000, 'z'), "application/octet-stream");
    });
    server_.Get("/missing", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content("no such file", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~HookServer() {
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpClientStartHook, SeesStatusAndHeadersBeforeTheFirstBodyByte) {
  HookServer server;
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/file");
  long seen_status = 0;
  std::string seen_length;
  size_t bytes_at_start = 1, bytes = 0;
  HttpResponse res = client.perform_streaming(
      req, [&](const char*, size_t n) { bytes += n; return true; },
      [&](long status, const HttpHeaders& headers) {
        seen_status = status;
        for (const auto& [k, v] : headers)
          if (k == "content-length") seen_length = v;
        bytes_at_start = bytes;
        return true;
      });
  EXPECT_TRUE(res.transport_ok()) << res.error;
  EXPECT_EQ(seen_status, 200);
  EXPECT_EQ(seen_length, "100000");
  EXPECT_EQ(bytes_at_start, 0u);
  EXPECT_EQ(bytes, 100000u);
}

TEST(HttpClientStartHook, ReturningFalseAbortsBeforeAnyByteIsSunk) {
  HookServer server;
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/file");
  size_t bytes = 0;
  HttpResponse res = client.perform_streaming(
      req, [&](const char*, size_t n) { bytes += n; return true; }, [](long, const HttpHeaders&) { return false; });
  EXPECT_FALSE(res.transport_ok());
  EXPECT_EQ(res.error, "transfer aborted by the receiver");
  EXPECT_EQ(bytes, 0u);
}

TEST(HttpClientStartHook, IsNotCalledForAnErrorBodyKeptInTheResponse) {
  HookServer server;
  HttpClient client;
  HttpRequest req;
  req.url = server.url("/missing");
  bool called = false;
  HttpResponse res = client.perform_streaming(
      req, [](const char*, size_t) { return true; },
      [&](long, const HttpHeaders&) {
        called = true;
        return true;
      });
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.body, "no such file");
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace sdxlw
