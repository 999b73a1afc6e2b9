#pragma once
// The wire format of RunPod's job API (DESIGN §3, notes/runpod_protocol.md): request headers,
// job-done and progress bodies, and the reading of a job-take answer.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/generation.h"
#include "net/http_client.h"

namespace sdxlw {

// Job-take and ping: the API key raw (no "Bearer"), as the Python SDK sends it. HttpClient adds
// the User-Agent.
HttpHeaders job_take_headers(const std::string& api_key);

// Job-done and progress posts, as the Python SDK sends them: a JSON body under
// "Content-Type: application/x-www-form-urlencoded" plus a "charset: utf-8" header, and the job
// id in X-Request-ID.
HttpHeaders job_done_headers(const std::string& api_key, const std::string& job_id);

// The job-done body for a handler output: {"output": ...}, or {"error": "<string>"} (+ the
// output's other fields under "output"), + "stopPod": true when the output asks for a
// refresh_worker.
nlohmann::json job_done_body(const nlohmann::json& output);

bool asks_refresh(const nlohmann::json& output);

// {"status": "IN_PROGRESS", "output": {"step", "total_steps", "percent"}}.
nlohmann::json progress_body(const StepProgress& progress);

struct JobTakeAnswer {
  std::vector<nlohmann::json> jobs;   // objects with a non-empty string "id"
  std::vector<std::string> problems;  // what could not be used, for the log
};

// Reads a 200 answer's body: empty → no job; a job object, or an array of them (batch form).
// Anything unusable (not JSON, no id) is reported in `problems`, never thrown.
JobTakeAnswer read_job_take_body(const std::string& body);

// At most `max_chars` bytes of `text` for a log line, with "..." when cut.
std::string log_excerpt(const std::string& text, size_t max_chars = 300);

}  // namespace sdxlw
