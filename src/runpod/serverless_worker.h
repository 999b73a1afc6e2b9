#pragma once
// The RunPod serverless loop (DESIGN §3): take a job (long-poll), run it, deliver its result,
// one job at a time, with the heartbeat and progress updates beside it.

#include <atomic>
#include <chrono>
#include <string>

#include "runpod/job_handler.h"
#include "runpod/runpod_env.h"

namespace sdxlw {

struct ServerlessConfig {
  std::string job_take_url;  // templates, as in the RUNPOD_WEBHOOK_* variables
  std::string job_done_url;
  std::string ping_url;      // empty: no heartbeat
  std::string worker_id;
  std::string api_key;
  std::chrono::milliseconds ping_interval{10000};

  // A job-take request is a long-poll; the Python SDK allows 90 s.
  std::chrono::milliseconds job_take_timeout{100000};
  // Job-take requests answered "no job" are started at least this far apart, so a server that
  // answers at once is not hammered.
  std::chrono::milliseconds no_job_interval{500};
  std::chrono::milliseconds too_many_requests_wait{5000};  // after a 429 on job-take
  std::chrono::milliseconds take_backoff_initial{1000};    // job-take errors
  std::chrono::milliseconds take_backoff_max{30000};
  std::chrono::milliseconds result_backoff_initial{1000};  // job-done errors
  std::chrono::milliseconds result_backoff_max{10000};
  // A result is retried (5xx, 408, 429, connection errors) until this much time has passed.
  std::chrono::milliseconds result_retry_window{std::chrono::minutes(10)};
  std::chrono::milliseconds result_timeout{120000};  // one job-done POST
  int progress_every_steps = 5;
  std::chrono::milliseconds progress_timeout{10000};
};

// The production configuration. Throws std::runtime_error naming what is missing
// (RUNPOD_WEBHOOK_GET_JOB, RUNPOD_WEBHOOK_POST_OUTPUT). The heartbeat is on only when
// RUNPOD_WEBHOOK_PING, RUNPOD_POD_ID and RUNPOD_AI_API_KEY are all set (as in the Python SDK).
ServerlessConfig serverless_config(const RunpodEnv& env);

// Runs until `stop` becomes true: a job-take in flight is abandoned, a running job is finished
// and its result delivered. Returns 0 then; returns 1 right after delivering a result that asked
// RunPod to stop the pod (refresh_worker), without taking further jobs.
int run_serverless(const ServerlessConfig& config, JobHandler& handler, const std::atomic<bool>& stop);

}  // namespace sdxlw
