#include "runpod/progress_reporter.h"

#include <spdlog/spdlog.h>

#include "net/http_client.h"
#include "runpod/job_output.h"
#include "runpod/protocol.h"
#include "runpod/runpod_env.h"

namespace sdxlw {

ProgressReporter::ProgressReporter(ProgressConfig config) : config_(std::move(config)) {
  thread_ = std::thread([this] { loop(); });
}

ProgressReporter::~ProgressReporter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    pending_.reset();
    cancel_post_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ProgressReporter::begin_job(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  job_id_ = job_id;
  pending_.reset();
}

void ProgressReporter::report(const StepProgress& progress) {
  if (config_.every_steps <= 0 || progress.step <= 0 || progress.step >= progress.total) return;
  if (progress.step % config_.every_steps != 0) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (job_id_.empty()) return;
    pending_ = progress;
  }
  cv_.notify_all();
}

void ProgressReporter::end_job() {
  std::unique_lock<std::mutex> lock(mutex_);
  job_id_.clear();
  pending_.reset();
  cancel_post_ = true;
  cv_.wait(lock, [this] { return !posting_; });
}

void ProgressReporter::loop() {
  HttpClient client;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || pending_.has_value(); });
    if (stopping_) return;
    StepProgress progress = *pending_;
    pending_.reset();
    std::string job_id = job_id_;
    posting_ = true;
    cancel_post_ = false;
    lock.unlock();

    HttpRequest request;
    request.method = "POST";
    request.url = append_query(expand_url_template(config_.job_done_url, config_.worker_id, job_id),
                               "isStream", "false");
    request.headers = job_done_headers(config_.api_key, job_id);
    request.body = dump_json(progress_body(progress));
    request.timeout_s = std::chrono::duration<double>(config_.timeout).count();
    request.cancel = &cancel_post_;
    HttpResponse response = client.perform(request);
    if (response.cancelled) {
      spdlog::debug("job {}: progress update cancelled at the end of the job", job_id);
    } else if (!response.transport_ok()) {
      spdlog::warn("job {}: progress update failed: {}", job_id, response.error);
    } else if (response.status < 200 || response.status >= 300) {
      spdlog::warn("job {}: progress update answered HTTP {}: {}", job_id, response.status,
                   log_excerpt(response.body));
    } else {
      posts_sent_.fetch_add(1);
      spdlog::debug("job {}: progress {}/{}", job_id, progress.step, progress.total);
    }

    lock.lock();
    posting_ = false;
    cv_.notify_all();
  }
}

}  // namespace sdxlw
