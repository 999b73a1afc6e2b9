#pragma once
// Runs jobs on the engine, one at a time: job JSON {"id", "input"} → the job's output JSON or
// {"error": "..."} (+ "refresh_worker": true). The one place where a job's exceptions become
// its error, and where each job gets its one log line.

#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/generation.h"
#include "runpod/job_input.h"

namespace sdxlw {

struct JobHandlerOptions {
  std::string output_dir;  // when set, every image is also written to <dir>/<job id>_<i>.png
};

class JobHandler {
 public:
  JobHandler(ImageGenerator& engine, JobValidationContext context, JobHandlerOptions options = {});

  // Validates job["input"] and runs it. Never throws. Thread-safe: concurrent calls run one
  // after the other.
  nlohmann::json handle(const nlohmann::json& job, const ProgressCallback& progress = {});

  // Runs an already validated request (local mode validates before loading the engine).
  nlohmann::json run(const std::string& job_id, const GenerationRequest& request,
                     const ProgressCallback& progress = {});

  // Throws InvalidRequest listing every problem.
  GenerationRequest validate(const nlohmann::json& input) const;

  // True once the engine threw EngineUnusable: every later job fails with refresh_worker.
  bool engine_unusable() const;

 private:
  nlohmann::json generate(const std::string& job_id, const GenerationRequest& request,
                          const ProgressCallback& progress);
  void write_images(const std::string& job_id, const GenerationResult& result) const;

  ImageGenerator& engine_;
  JobValidationContext context_;
  JobHandlerOptions options_;
  std::mutex run_mutex_;            // one job at a time on the engine
  mutable std::mutex state_mutex_;  // guards unusable_reason_
  std::string unusable_reason_;
};

// A job id safe to use in a file name: anything but [A-Za-z0-9._-] becomes '_'.
std::string file_safe_id(const std::string& job_id);

// The id of a job document for logs and file names: its "id" string, else its JSON text,
// else `fallback`.
std::string job_id_of(const nlohmann::json& job, const std::string& fallback);

}  // namespace sdxlw
