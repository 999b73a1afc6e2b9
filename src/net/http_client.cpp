#include "net/http_client.h"

#include <curl/curl.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "util/version.h"

namespace sdxlw {
namespace {

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct Transfer {
  HttpResponse* response = nullptr;
  const BodySink* sink = nullptr;
  const ResponseStartHook* on_start = nullptr;
  bool started = false;
  bool sink_only_2xx = true;
  CURL* curl = nullptr;
  bool sink_aborted = false;
};

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new response (after a redirect or 100-continue)
    return size * count;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    t->response->headers.emplace_back(trim(name), trim(line.substr(colon + 1)));
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (t->sink) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    bool to_sink = !t->sink_only_2xx || (status >= 200 && status < 300);
    if (to_sink) {
      if (!t->started) {
        t->started = true;
        if (t->on_start && *t->on_start && !(*t->on_start)(status, t->response->headers)) {
          t->sink_aborted = true;
          return 0;
        }
      }
      if (!(*t->sink)(data, n)) {
        t->sink_aborted = true;
        return 0;  // makes curl stop with CURLE_WRITE_ERROR
      }
      return n;
    }
  }
  t->response->body.append(data, n);
  return n;
}

int on_xferinfo(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancel = static_cast<const std::atomic<bool>*>(user);
  return cancel->load() ? 1 : 0;  // non-zero aborts with CURLE_ABORTED_BY_CALLBACK
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "";
}

HttpClient::HttpClient() {
  global_init_once();
  handle_ = curl_easy_init();
  if (!handle_) throw std::runtime_error("http: curl_easy_init failed");
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(handle_)); }

std::string HttpClient::user_agent() {
  static const std::string ua = [] {
    utsname u{};
    std::string os = "unknown", arch = "unknown";
    if (uname(&u) == 0) {
      os = std::string(u.sysname) + " " + u.release;
      arch = u.machine;
    }
    return std::string("sdxl-worker/") + kVersion + " (" + os + "; " + arch + ")";
  }();
  return ua;
}

HttpResponse HttpClient::perform(const HttpRequest& request) {
  return perform(request, BodySink(), true);
}

HttpResponse HttpClient::perform(const HttpRequest& request, const BodySink& sink,
                                 bool sink_only_2xx) {
  return perform_streaming(request, sink, ResponseStartHook(), sink_only_2xx);
}

HttpResponse HttpClient::perform_streaming(const HttpRequest& request, const BodySink& sink,
                                           const ResponseStartHook& on_start, bool sink_only_2xx) {
  CURL* curl = static_cast<CURL*>(handle_);
  curl_easy_reset(curl);
  HttpResponse response;
  Transfer transfer;
  transfer.response = &response;
  transfer.sink = sink ? &sink : nullptr;
  transfer.on_start = &on_start;
  transfer.sink_only_2xx = sink_only_2xx;
  transfer.curl = curl;

  Slist headers;
  auto append_header = [&headers](const std::string& line) {
    curl_slist* head = curl_slist_append(headers.get(), line.c_str());
    if (!head) return false;
    headers.release();
    headers.reset(head);
    return true;
  };
  for (const auto& [k, v] : request.headers) {
    if (!append_header(k + ": " + v)) {
      response.error = "out of memory building headers";
      return response;
    }
  }
  // Suppress curl's automatic "Expect: 100-continue" on large POST bodies.
  append_header("Expect:");

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent().c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout_s * 1000));
  if (request.low_speed_timeout_s > 0) {
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(request.low_speed_timeout_s));
  }
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // accept whatever curl can decode
  if (request.cancel) {
    if (request.cancel->load()) {
      response.error = "cancelled";
      response.cancelled = true;
      return response;
    }
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(request.cancel));
  }

  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    if (request.method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }

  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  char* effective = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective)
    response.effective_url = effective;
  response.curl_code = static_cast<int>(rc);
  if (rc != CURLE_OK) {
    if (rc == CURLE_ABORTED_BY_CALLBACK && request.cancel && request.cancel->load()) {
      response.error = "cancelled";
      response.cancelled = true;
    } else if (transfer.sink_aborted) {
      response.error = "transfer aborted by the receiver";
    } else {
      response.error = errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc);
    }
  }
  return response;
}

}  // namespace sdxlw
