#include "runpod/runpod_env.h"

#include <cstdlib>
#include <random>
#include <stdexcept>

namespace sdxlw {
namespace {

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value || !*value) return std::nullopt;
    return std::string(value);
  };
}

std::string expand_url_template(const std::string& url_template, const std::string& worker_id,
                                const std::string& id) {
  std::string url = url_template;
  replace_all(url, "$RUNPOD_POD_ID", worker_id);
  replace_all(url, "$ID", id);
  return url;
}

std::string url_encode(const std::string& value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (is_unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string append_query(const std::string& url, const std::string& name, const std::string& value) {
  std::string out = url;
  auto fragment = out.find('#');
  std::string tail;
  if (fragment != std::string::npos) {
    tail = out.substr(fragment);
    out.resize(fragment);
  }
  if (out.find('?') == std::string::npos) {
    out += '?';
  } else if (out.back() != '?' && out.back() != '&') {
    out += '&';
  }
  out += url_encode(name) + "=" + url_encode(value);
  return out + tail;
}

RunpodEnv read_runpod_env(const EnvLookup& env) {
  RunpodEnv e;
  e.job_take_url = env("RUNPOD_WEBHOOK_GET_JOB").value_or("");
  e.job_done_url = env("RUNPOD_WEBHOOK_POST_OUTPUT").value_or("");
  e.ping_url = env("RUNPOD_WEBHOOK_PING").value_or("");
  e.api_key = env("RUNPOD_AI_API_KEY").value_or("");
  if (auto pod = env("RUNPOD_POD_ID")) {
    e.worker_id = *pod;
    e.worker_id_from_env = true;
  } else {
    e.worker_id = random_uuid();
  }
  if (auto interval = env("RUNPOD_PING_INTERVAL")) {
    size_t used = 0;
    long ms = 0;
    try {
      ms = std::stol(*interval, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != interval->size() || ms <= 0)
      throw std::runtime_error("RUNPOD_PING_INTERVAL must be a positive number of milliseconds (got \"" +
                               *interval + "\")");
    e.ping_interval_ms = ms;
  }
  e.log_level = env("RUNPOD_LOG_LEVEL").value_or(env("RUNPOD_DEBUG_LEVEL").value_or(""));
  return e;
}

std::string random_uuid() {
  thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }()};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // variant 10xx
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
    uint64_t word = i < 16 ? hi : lo;
    int shift = 60 - 4 * (i % 16);
    out += hex[(word >> shift) & 15];
  }
  return out;
}

}  // namespace sdxlw
