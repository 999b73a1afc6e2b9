#pragma once
// The local HTTP API (--rp_serve_api, DESIGN §3) on cpp-httplib:
//   POST /runsync           {"input": {...}} → {"id", "status": "COMPLETED", "output"} or
//                           {"id", "status": "FAILED", "error"}
//   POST /run               → {"id": "test-<uuid>", "status": "IN_QUEUE"}; runs in the background
//   GET|POST /status/{id}   → IN_QUEUE | IN_PROGRESS (+ progress) | COMPLETED | FAILED;
//                           404 {"id", "status": "FAILED", "error": "Job ID not found"} if unknown
//   GET /health             → {"ready", "jobs": {"completed", "failed", "inProgress", "inQueue"}}
// Every job, /runsync included, goes through one queue and one job thread, in arrival order.
// A request that is not a job gets a 400 (or 404/405/413/429/503) with {"error": "..."}.

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "runpod/job_handler.h"

namespace sdxlw {

struct LocalApiOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                         // 0: any free port
  size_t max_queued = 100;                 // /run beyond this gets 429
  size_t kept_results = 1000;              // finished jobs /status still knows
  size_t max_body_bytes = 20 * 1024 * 1024;  // RunPod's /runsync payload limit
};

class LocalApi {
 public:
  LocalApi(JobHandler& handler, LocalApiOptions options);
  ~LocalApi();  // stop()
  LocalApi(const LocalApi&) = delete;
  LocalApi& operator=(const LocalApi&) = delete;

  // Binds and serves in the background; returns the bound port. Throws std::runtime_error when
  // the address cannot be bound.
  int start();
  // Refuses new jobs, fails the queued ones, finishes the running one, then stops serving and
  // joins every thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// --rp_serve_api: serves until `stop` becomes true. Returns 0, or 1 when the address cannot be
// bound.
int run_local_api(JobHandler& handler, const LocalApiOptions& options, const std::atomic<bool>& stop);

}  // namespace sdxlw
