#pragma once
// The RunPod environment (DESIGN §3): URL templates and worker identity, read once at start-up.

#include <functional>
#include <optional>
#include <string>

namespace sdxlw {

// Looks up an environment variable; nullopt when unset. Tests pass a map-backed lookup.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (getenv). An empty value counts as unset.
EnvLookup process_env();

// In a URL template, replaces every "$RUNPOD_POD_ID" with `worker_id`, then every remaining "$ID"
// with `id` (the worker id for job-take and ping, the job id for job-done).
std::string expand_url_template(const std::string& url_template, const std::string& worker_id,
                                const std::string& id);

// Appends "name=value" (value percent-encoded) with '&' when the URL already has a query string,
// else with '?'. A URL ending in '?' or '&' gets no extra separator.
std::string append_query(const std::string& url, const std::string& name, const std::string& value);

// Percent-encodes everything except RFC 3986 unreserved characters.
std::string url_encode(const std::string& value);

struct RunpodEnv {
  std::string job_take_url;  // RUNPOD_WEBHOOK_GET_JOB (template)
  std::string job_done_url;  // RUNPOD_WEBHOOK_POST_OUTPUT (template)
  std::string ping_url;      // RUNPOD_WEBHOOK_PING (template)
  std::string worker_id;     // RUNPOD_POD_ID, else a random UUID (as the Python SDK does)
  bool worker_id_from_env = false;
  std::string api_key;       // RUNPOD_AI_API_KEY, sent raw in Authorization
  long ping_interval_ms = 10000;  // RUNPOD_PING_INTERVAL
  std::string log_level;     // RUNPOD_LOG_LEVEL, else RUNPOD_DEBUG_LEVEL; "" when neither
};

// Reads every RUNPOD_* variable the worker uses. Throws std::runtime_error when
// RUNPOD_PING_INTERVAL is not a positive whole number of milliseconds.
RunpodEnv read_runpod_env(const EnvLookup& env);

// A random RFC 4122 version-4 UUID in its canonical lower-case form.
std::string random_uuid();

}  // namespace sdxlw
