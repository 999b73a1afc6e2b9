#include "runpod/heartbeat.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "net/http_client.h"
#include "runpod/protocol.h"
#include "runpod/runpod_env.h"

namespace sdxlw {

void JobTracker::add(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  ids_.insert(job_id);
}

void JobTracker::remove(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  ids_.erase(job_id);
}

std::vector<std::string> JobTracker::ids() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {ids_.begin(), ids_.end()};
}

std::string ping_url(const HeartbeatConfig& config, const std::vector<std::string>& job_ids) {
  std::string url = expand_url_template(config.ping_url, config.worker_id, config.worker_id);
  if (job_ids.empty()) return url;
  std::string joined;
  for (size_t i = 0; i < job_ids.size(); ++i) joined += (i ? "," : "") + job_ids[i];
  return append_query(url, "job_id", joined);
}

Heartbeat::Heartbeat(HeartbeatConfig config, const JobTracker& jobs)
    : config_(std::move(config)), jobs_(jobs) {
  thread_ = std::thread([this] { loop(); });
}

Heartbeat::~Heartbeat() { stop(); }

void Heartbeat::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    cancel_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Heartbeat::loop() {
  HttpClient client;
  // A ping may take up to one interval (at least 2 s) before it counts as failed.
  double timeout_s = std::max(2.0, std::chrono::duration<double>(config_.interval).count());
  auto next = std::chrono::steady_clock::now();
  int failures = 0;
  for (;;) {
    HttpRequest request;
    request.url = ping_url(config_, jobs_.ids());
    request.headers = job_take_headers(config_.api_key);
    request.timeout_s = timeout_s;
    request.connect_timeout_s = std::min(timeout_s, 10.0);
    request.cancel = &cancel_;
    HttpResponse response = client.perform(request);
    if (response.cancelled) return;
    if (!response.transport_ok() || response.status < 200 || response.status >= 300) {
      // Every failure is logged at debug level; the first of a run, and every 10th, as warnings.
      std::string what = response.transport_ok()
                             ? "HTTP " + std::to_string(response.status) + ": " + log_excerpt(response.body)
                             : response.error;
      if (failures % 10 == 0) {
        spdlog::warn("heartbeat: ping failed ({}); {} in a row", what, failures + 1);
      } else {
        spdlog::debug("heartbeat: ping failed ({})", what);
      }
      ++failures;
    } else {
      if (failures) spdlog::info("heartbeat: ping works again after {} failures", failures);
      failures = 0;
      spdlog::trace("heartbeat: ping {}", request.url);
    }

    next += config_.interval;
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // a slow ping: skip the missed beats rather than burst
    std::unique_lock<std::mutex> lock(mutex_);
    if (cv_.wait_until(lock, next, [this] { return stopping_; })) return;
  }
}

}  // namespace sdxlw
