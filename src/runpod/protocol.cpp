#include "runpod/protocol.h"

#include <cmath>

#include "runpod/job_output.h"

namespace sdxlw {

HttpHeaders job_take_headers(const std::string& api_key) {
  return {{"Authorization", api_key}, {"Content-Type", "application/json"}};
}

HttpHeaders job_done_headers(const std::string& api_key, const std::string& job_id) {
  return {{"Authorization", api_key},
          {"Content-Type", "application/x-www-form-urlencoded"},
          {"charset", "utf-8"},
          {"X-Request-ID", job_id}};
}

bool asks_refresh(const nlohmann::json& output) {
  if (!output.is_object()) return false;
  auto it = output.find("refresh_worker");
  if (it == output.end() || it->is_null()) return false;
  if (it->is_boolean()) return it->get<bool>();
  return true;
}

nlohmann::json job_done_body(const nlohmann::json& output) {
  nlohmann::json body = nlohmann::json::object();
  if (output.is_object()) {
    nlohmann::json rest = output;
    rest.erase("error");
    rest.erase("refresh_worker");
    if (is_error_output(output)) {
      body["error"] = error_message(output);
      if (!rest.empty()) body["output"] = std::move(rest);
    } else {
      body["output"] = std::move(rest);
    }
  } else {
    body["output"] = output;
  }
  if (asks_refresh(output)) body["stopPod"] = true;
  return body;
}

nlohmann::json progress_body(const StepProgress& progress) {
  int percent = progress.total > 0
                    ? static_cast<int>(std::lround(100.0 * progress.step / progress.total))
                    : 0;
  return {{"status", "IN_PROGRESS"},
          {"output", {{"step", progress.step}, {"total_steps", progress.total}, {"percent", percent}}}};
}

std::string log_excerpt(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

JobTakeAnswer read_job_take_body(const std::string& body) {
  JobTakeAnswer answer;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return answer;
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    answer.problems.push_back("the answer is not JSON: " + log_excerpt(body));
    return answer;
  }
  std::vector<nlohmann::json> candidates;
  if (parsed.is_object()) {
    candidates.push_back(std::move(parsed));
  } else if (parsed.is_array()) {
    for (auto& j : parsed) candidates.push_back(std::move(j));
  } else {
    answer.problems.push_back("the answer is neither a job object nor a list of jobs: " +
                              log_excerpt(body));
    return answer;
  }
  for (auto& job : candidates) {
    if (!job.is_object()) {
      answer.problems.push_back("a job is not a JSON object: " + log_excerpt(dump_json(job)));
      continue;
    }
    auto id = job.find("id");
    if (id == job.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
      answer.problems.push_back("a job has no string \"id\", so it can be neither run nor answered: " +
                                log_excerpt(dump_json(job)));
      continue;
    }
    answer.jobs.push_back(std::move(job));
  }
  return answer;
}

}  // namespace sdxlw
