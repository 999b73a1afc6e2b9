#pragma once
// The worker's heartbeat (DESIGN §3): GET RUNPOD_WEBHOOK_PING every interval from its own
// thread, with job_id=<ids in progress> while there are any, so a long job never silences it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sdxlw {

// The ids of the jobs this worker holds, from job-take until their result is delivered.
class JobTracker {
 public:
  void add(const std::string& job_id);
  void remove(const std::string& job_id);
  std::vector<std::string> ids() const;  // sorted

 private:
  mutable std::mutex mutex_;
  std::set<std::string> ids_;
};

struct HeartbeatConfig {
  std::string ping_url;  // template: $RUNPOD_POD_ID (and $ID) → worker id
  std::string worker_id;
  std::string api_key;
  std::chrono::milliseconds interval{10000};
};

class Heartbeat {
 public:
  // Starts pinging at once; the pings keep a fixed start-to-start interval.
  Heartbeat(HeartbeatConfig config, const JobTracker& jobs);
  ~Heartbeat();  // stop()
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  void stop();  // interrupts a ping in flight and joins the thread

 private:
  void loop();

  HeartbeatConfig config_;
  const JobTracker& jobs_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

// The ping URL for these jobs: the template expanded, plus job_id=<comma-separated ids> when
// there are any.
std::string ping_url(const HeartbeatConfig& config, const std::vector<std::string>& job_ids);

}  // namespace sdxlw
