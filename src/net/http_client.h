#pragma once
// The one HTTP client of the worker (libcurl). Network code returns results, never throws:
// a transport failure is HttpResponse::error, an HTTP error is a status the caller inspects.

#include <atomic>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sdxlw {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  double timeout_s = 30;          // whole transfer; 0 = none
  double connect_timeout_s = 10;
  double low_speed_timeout_s = 0;  // abort when under 1 byte/s for this long; 0 = off
  bool follow_redirects = false;
  // Polled while the transfer runs (at least once a second): true aborts it, and the response
  // has `cancelled` set. Lets a stop signal interrupt a long-poll.
  const std::atomic<bool>* cancel = nullptr;
};

struct HttpResponse {
  long status = 0;            // 0 when no HTTP answer arrived
  std::string body;           // empty when a body sink consumed it
  HttpHeaders headers;        // of the last response, names lower-cased
  std::string error;          // transport error (refused, timeout, reset); empty otherwise
  int curl_code = 0;          // CURLcode of the transfer
  std::string effective_url;  // after redirects
  bool cancelled = false;     // aborted through HttpRequest::cancel

  bool transport_ok() const { return error.empty(); }
  // First header value with this (lower-case) name, or "".
  std::string header(const std::string& name) const;
};

// Receives body bytes as they arrive; return false to abort the transfer.
using BodySink = std::function<bool(const char* data, size_t size)>;

// Called once, with the status and headers of the response about to be streamed into a sink,
// before its first body byte (never for a response without a body); return false to abort.
using ResponseStartHook = std::function<bool(long status, const HttpHeaders& headers)>;

// Owns one CURL easy handle, reused across requests (keep-alive). Not thread-safe: one client
// per thread.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse perform(const HttpRequest& request);
  // Streams the body into `sink` instead of HttpResponse::body. The sink also sees error bodies
  // unless `sink_only_2xx` is set, in which case those land in HttpResponse::body.
  HttpResponse perform(const HttpRequest& request, const BodySink& sink, bool sink_only_2xx = true);
  // As above, and `on_start` sees the streamed response's status and headers first (to check a
  // Content-Range, size a download, or refuse it). A name of its own: a capture-less lambda
  // would also convert to the bool of the overload above.
  HttpResponse perform_streaming(const HttpRequest& request, const BodySink& sink,
                                 const ResponseStartHook& on_start, bool sink_only_2xx = true);

  // The User-Agent every request carries: "sdxl-worker/<version> (<os> <arch>)".
  static std::string user_agent();

 private:
  void* handle_;  // CURL*
};

}  // namespace sdxlw
