#include "runpod/serverless_worker.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <stdexcept>
#include <thread>

#include "net/http_client.h"
#include "runpod/backoff.h"
#include "runpod/heartbeat.h"
#include "runpod/job_output.h"
#include "runpod/progress_reporter.h"
#include "runpod/protocol.h"

namespace sdxlw {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double seconds(milliseconds d) { return std::chrono::duration<double>(d).count(); }

class ServerlessLoop {
 public:
  ServerlessLoop(const ServerlessConfig& config, JobHandler& handler, const std::atomic<bool>& stop)
      : config_(config),
        handler_(handler),
        stop_(stop),
        progress_(ProgressConfig{config.job_done_url, config.worker_id, config.api_key,
                                 config.progress_every_steps, config.progress_timeout}),
        take_backoff_(config.take_backoff_initial, config.take_backoff_max) {}

  int run() {
    std::unique_ptr<Heartbeat> heartbeat;
    if (!config_.ping_url.empty()) {
      heartbeat = std::make_unique<Heartbeat>(
          HeartbeatConfig{config_.ping_url, config_.worker_id, config_.api_key, config_.ping_interval},
          jobs_);
    }
    spdlog::info("serverless: worker {} taking jobs{}", config_.worker_id,
                 heartbeat ? fmt::format(" (heartbeat every {} ms)", config_.ping_interval.count())
                           : std::string(" (no heartbeat)"));
    while (!stop_.load() && !refresh_requested_) take_once();
    if (refresh_requested_) {
      spdlog::warn("serverless: stopping after a result that asked RunPod to restart the worker");
      return 1;
    }
    spdlog::info("serverless: stop requested; no job running, exiting");
    return 0;
  }

 private:
  void take_once() {
    auto started = Clock::now();
    HttpRequest request;
    request.url = append_query(
        expand_url_template(config_.job_take_url, config_.worker_id, config_.worker_id),
        "job_in_progress", "0");  // one job at a time: none is in progress while we ask
    request.headers = job_take_headers(config_.api_key);
    request.timeout_s = seconds(config_.job_take_timeout);
    request.cancel = &stop_;
    HttpResponse response = take_client_.perform(request);
    if (response.cancelled) return;

    // The long-poll outlasted our allowance without a job (not a connect timeout): ask again.
    if (!response.transport_ok() && response.curl_code == CURLE_OPERATION_TIMEDOUT &&
        Clock::now() - started >= config_.job_take_timeout * 9 / 10) {
      spdlog::debug("serverless: job-take timed out without a job");
      take_backoff_.reset();
      return;
    }
    if (!response.transport_ok()) {
      auto delay = take_backoff_.next();
      spdlog::warn("serverless: job-take failed: {}; retrying in {:.1f} s", response.error,
                   seconds(delay));
      sleep_unless_stopped(delay, stop_);
      return;
    }
    switch (response.status) {
      case 200: {
        take_backoff_.reset();
        JobTakeAnswer answer = read_job_take_body(response.body);
        for (const auto& problem : answer.problems) spdlog::error("serverless: job-take: {}", problem);
        if (answer.jobs.empty()) {
          if (answer.problems.empty()) spdlog::debug("serverless: job-take: empty answer, no job");
          pace(started);
        }
        for (const auto& job : answer.jobs) process(job);
        return;
      }
      case 204:
      case 400:  // "no job", also what RunPod answers with FlashBoot
        take_backoff_.reset();
        pace(started);
        return;
      case 429:
        spdlog::warn("serverless: job-take answered 429 (too many requests); waiting {:.1f} s",
                     seconds(config_.too_many_requests_wait));
        sleep_unless_stopped(config_.too_many_requests_wait, stop_);
        return;
      default: {
        auto delay = take_backoff_.next();
        spdlog::warn("serverless: job-take answered HTTP {}: {}; retrying in {:.1f} s",
                     response.status, log_excerpt(response.body), seconds(delay));
        sleep_unless_stopped(delay, stop_);
        return;
      }
    }
  }

  void pace(Clock::time_point started) {
    auto elapsed = Clock::now() - started;
    if (elapsed < config_.no_job_interval)
      sleep_unless_stopped(std::chrono::duration_cast<milliseconds>(config_.no_job_interval - elapsed),
                           stop_);
  }

  void process(const nlohmann::json& job) {
    const std::string id = job.at("id").get<std::string>();
    jobs_.add(id);
    progress_.begin_job(id);
    nlohmann::json output =
        handler_.handle(job, [this](const StepProgress& p) { progress_.report(p); });
    progress_.end_job();
    deliver(id, output);
    jobs_.remove(id);
    if (asks_refresh(output)) refresh_requested_ = true;
  }

  // Posts the result, retrying until it is accepted or the retry window is over; a stop request
  // does not cut this short.
  void deliver(const std::string& id, const nlohmann::json& output) {
    std::string body = dump_json(job_done_body(output));
    HttpRequest request;
    request.method = "POST";
    request.url = append_query(expand_url_template(config_.job_done_url, config_.worker_id, id),
                               "isStream", "false");
    request.headers = job_done_headers(config_.api_key, id);
    request.timeout_s = seconds(config_.result_timeout);

    Backoff backoff(config_.result_backoff_initial, config_.result_backoff_max);
    auto deadline = Clock::now() + config_.result_retry_window;
    bool error_result = is_error_output(output);
    bool replaced = false;
    std::string last;
    for (int attempt = 1;; ++attempt) {
      request.body = body;
      HttpResponse response = done_client_.perform(request);
      if (response.transport_ok() && response.status >= 200 && response.status < 300) {
        if (attempt == 1) {
          spdlog::debug("job {}: result delivered ({} bytes)", id, body.size());
        } else {
          spdlog::info("job {}: result delivered ({} bytes) at attempt {}", id, body.size(), attempt);
        }
        return;
      }
      last = response.transport_ok()
                 ? "HTTP " + std::to_string(response.status) + ": " + log_excerpt(response.body)
                 : response.error;
      bool retryable = !response.transport_ok() || response.status >= 500 ||
                       response.status == 408 || response.status == 429;
      if (!retryable) {
        if ((response.status == 400 || response.status == 413) && !error_result && !replaced) {
          // Most likely the result is too large: report that instead of losing the job silently.
          spdlog::error("job {}: job-done refused the {}-byte result ({}); sending an error instead",
                        id, body.size(), last);
          body = dump_json(job_done_body(error_output(
              "the worker could not deliver this job's result: RunPod's job-done answered HTTP " +
              std::to_string(response.status) + " for a " + std::to_string(body.size()) +
              "-byte result (too large? try fewer or smaller images)")));
          replaced = true;
          continue;
        }
        spdlog::error("job {}: result not delivered: job-done answered {} (not retried)", id, last);
        return;
      }
      auto delay = backoff.next();
      if (Clock::now() + delay > deadline) {
        spdlog::error("job {}: result lost: job-done failed {} times over {:.0f} s (last: {})", id,
                      attempt, seconds(config_.result_retry_window), last);
        return;
      }
      spdlog::warn("job {}: job-done failed ({}); retry {} in {:.1f} s", id, last, attempt,
                   seconds(delay));
      std::this_thread::sleep_for(delay);
    }
  }

  const ServerlessConfig& config_;
  JobHandler& handler_;
  const std::atomic<bool>& stop_;
  JobTracker jobs_;
  ProgressReporter progress_;
  HttpClient take_client_;
  HttpClient done_client_;
  Backoff take_backoff_;
  bool refresh_requested_ = false;
};

}  // namespace

ServerlessConfig serverless_config(const RunpodEnv& env) {
  if (env.job_take_url.empty())
    throw std::runtime_error("RUNPOD_WEBHOOK_GET_JOB is not set: not running on RunPod serverless");
  if (env.job_done_url.empty())
    throw std::runtime_error(
        "RUNPOD_WEBHOOK_POST_OUTPUT is not set: the worker could not return any result");
  ServerlessConfig config;
  config.job_take_url = env.job_take_url;
  config.job_done_url = env.job_done_url;
  config.worker_id = env.worker_id;
  config.api_key = env.api_key;
  config.ping_interval = std::chrono::milliseconds(env.ping_interval_ms);
  if (env.ping_url.empty() || env.api_key.empty() || !env.worker_id_from_env) {
    spdlog::warn("serverless: heartbeat off (it needs RUNPOD_WEBHOOK_PING, RUNPOD_POD_ID and "
                 "RUNPOD_AI_API_KEY)");
  } else {
    config.ping_url = env.ping_url;
  }
  if (env.api_key.empty()) spdlog::warn("serverless: RUNPOD_AI_API_KEY is not set");
  return config;
}

int run_serverless(const ServerlessConfig& config, JobHandler& handler, const std::atomic<bool>& stop) {
  ServerlessLoop loop(config, handler, stop);
  return loop.run();
}

}  // namespace sdxlw
