#include "store/model_request.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "store/civitai.h"

namespace sdxlw {
namespace {

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string body_excerpt(const std::string& body) {
  std::string out;
  for (char c : body.substr(0, 200)) out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  if (body.size() > 200) out += "...";
  return out;
}

std::string join_hosts(const std::vector<std::string>& hosts) {
  std::string out;
  for (const auto& h : hosts) out += (out.empty() ? "" : ",") + h;
  return out;
}

}  // namespace

std::string ModelSource::what() const {
  if (version_id) return "model version " + *version_id;
  return redact_url(url.text);
}

HopResult get_following_redirects(HttpClient& client, const ModelSource& source, const HttpRequest& request,
                                  const StoreOptions& options, const BodySink& sink,
                                  const ResponseStartHook& on_start) {
  HopResult result;
  result.url = source.url;
  for (int hop = 0;; ++hop) {
    HttpRequest req = request;
    req.method = "GET";
    req.url = result.url.text;
    req.follow_redirects = false;
    req.headers.erase(std::remove_if(req.headers.begin(), req.headers.end(),
                                     [](const auto& h) {
                                       std::string k = h.first;
                                       std::transform(k.begin(), k.end(), k.begin(),
                                                      [](unsigned char c) { return std::tolower(c); });
                                       return k == "authorization";
                                     }),
                      req.headers.end());
    result.key_sent = hop == 0 && !options.civitai_api_key.empty() &&
                      host_receives_key(result.url, options.civitai_hosts);
    if (result.key_sent) req.headers.emplace_back("Authorization", "Bearer " + options.civitai_api_key);
    result.hop = hop;
    result.response = client.perform_streaming(req, sink, on_start, true);
    if (!result.response.transport_ok() || !is_redirect(result.response.status)) return result;

    const std::string location = result.response.header("location");
    if (location.empty()) {
      throw std::runtime_error(result.url.host + " answered " + std::to_string(result.response.status) +
                               " for " + source.what() + " (" + source.label + ") without a Location to follow");
    }
    if (hop + 1 > kMaxRedirects) {
      throw std::runtime_error("too many redirects (over " + std::to_string(kMaxRedirects) + ") fetching " +
                               source.what() + " (" + source.label + ")");
    }
    auto next = resolve_url(result.url.text, location);
    if (!next) {
      throw std::runtime_error(result.url.host + " redirected " + source.what() + " (" + source.label +
                               ") to \"" + redact_url(location) + "\", which is not an http(s) URL");
    }
    spdlog::debug("store: {} redirects to {}", source.what(), next->host);
    result.url = *next;
  }
}

bool is_retryable_status(long status) {
  return status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599);
}

double retry_delay_s(int failures, const StoreOptions& options) {
  const double d = options.retry_initial_delay_s * std::pow(2.0, std::max(0, failures - 1));
  return std::min(d, options.retry_max_delay_s);
}

std::string http_error_message(const HopResult& result, const ModelSource& source, const StoreOptions& options) {
  const long status = result.response.status;
  const std::string head =
      result.url.host + " answered " + std::to_string(status) + " for " + source.what() + " (" + source.label + ")";
  if (status == 401 || status == 403) {
    if (options.civitai_api_key.empty()) {
      return head + ": set CIVITAI_API_KEY to a Civitai API key (https://civitai.com/user/account)";
    }
    if (!result.key_sent && result.hop == 0) {
      return head + ": CIVITAI_API_KEY is only sent to the hosts in CIVITAI_HOSTS (" +
             join_hosts(options.civitai_hosts) + "); add " + result.url.authority() + " if this host needs it";
    }
    if (!result.key_sent) {
      return head + " after a redirect (the key is never forwarded to a redirect target); the download link may "
                    "have expired, try again";
    }
    return head + ": the CIVITAI_API_KEY sent was refused; check that the key is valid "
                  "(https://civitai.com/user/account) and that this account may download the model";
  }
  if (status == 404) {
    if (source.version_id) {
      return head + ": Civitai has no model version " + *source.version_id +
             " (or it is not published); check the url in models.json";
    }
    return head + ": not found; check the url in models.json";
  }
  std::string msg = head;
  const std::string excerpt = body_excerpt(result.response.body);
  if (!excerpt.empty()) msg += ": " + excerpt;
  return msg;
}

}  // namespace sdxlw
