#pragma once
// Posts IN_PROGRESS updates of the running job to job-done from its own thread. report() only
// records the latest step, so denoising never waits on the network; updates that pile up while
// a post is in flight are coalesced into the newest one.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/generation.h"

namespace sdxlw {

struct ProgressConfig {
  std::string job_done_url;  // template: $RUNPOD_POD_ID → worker id, $ID → job id
  std::string worker_id;
  std::string api_key;
  int every_steps = 5;  // post after steps 5, 10, ... (never for the last step); <= 0: off
  std::chrono::milliseconds timeout{10000};
};

class ProgressReporter {
 public:
  explicit ProgressReporter(ProgressConfig config);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void begin_job(const std::string& job_id);
  // Cheap and non-blocking; called from the engine's thread at every step.
  void report(const StepProgress& progress);
  // Drops any pending update and cancels a post in flight; returns when no post for the job is
  // running any more, so that no IN_PROGRESS update can follow the job's result.
  void end_job();

  int posts_sent() const { return posts_sent_.load(); }

 private:
  void loop();

  ProgressConfig config_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string job_id_;
  std::optional<StepProgress> pending_;
  bool posting_ = false;
  bool stopping_ = false;
  std::atomic<bool> cancel_post_{false};
  std::atomic<int> posts_sent_{0};
  std::thread thread_;
};

}  // namespace sdxlw
