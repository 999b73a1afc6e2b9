#include "net/url.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <string_view>

namespace sdxlw {
namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One part of the URL, or nullopt when curl has none (e.g. no query).
std::optional<std::string> get_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(u, part, &value, flags) != CURLUE_OK || !value) return std::nullopt;
  std::string out(value);
  curl_free(value);
  return out;
}

std::optional<Url> extract(CURLU* u) {
  Url url;
  auto scheme = get_part(u, CURLUPART_SCHEME);
  auto host = get_part(u, CURLUPART_HOST);
  auto port = get_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  auto text = get_part(u, CURLUPART_URL);
  if (!scheme || !host || host->empty() || !port || !text) return std::nullopt;
  url.scheme = lower(*scheme);
  if (url.scheme != "http" && url.scheme != "https") return std::nullopt;
  url.host = lower(*host);
  try {
    url.port = std::stoi(*port);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  url.path = get_part(u, CURLUPART_PATH).value_or("/");
  if (url.path.empty()) url.path = "/";
  url.query = get_part(u, CURLUPART_QUERY).value_or("");
  url.text = *text;
  return url;
}

bool is_secret_param(std::string_view key) {
  static constexpr std::array<std::string_view, 12> kSecret = {
      "token",     "access_token", "api_key",          "apikey",
      "key",       "auth",         "signature",        "sig",
      "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature"};
  std::string k = lower(std::string(key));
  return std::find(kSecret.begin(), kSecret.end(), k) != kSecret.end();
}

}  // namespace

std::string Url::authority() const { return host + ":" + std::to_string(port); }

std::optional<Url> parse_url(const std::string& text) {
  CurlUrl u(curl_url());
  if (!u) return std::nullopt;
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return std::nullopt;
  return extract(u.get());
}

std::optional<Url> resolve_url(const std::string& base, const std::string& reference) {
  CurlUrl u(curl_url());
  if (!u) return std::nullopt;
  if (curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK) return std::nullopt;
  // With a base URL in the handle, curl resolves a relative reference against it.
  if (curl_url_set(u.get(), CURLUPART_URL, reference.c_str(), 0) != CURLUE_OK) return std::nullopt;
  return extract(u.get());
}

std::string redact_url(const std::string& url) {
  const size_t q = url.find('?');
  if (q == std::string::npos) return url;
  const size_t hash = url.find('#', q);
  const size_t end = hash == std::string::npos ? url.size() : hash;
  std::string out = url.substr(0, q + 1);
  size_t pos = q + 1;
  while (pos <= end) {
    size_t amp = url.find('&', pos);
    if (amp == std::string::npos || amp > end) amp = end;
    std::string_view param(url.data() + pos, amp - pos);
    const size_t eq = param.find('=');
    if (eq != std::string_view::npos && is_secret_param(param.substr(0, eq))) {
      out.append(param.substr(0, eq + 1)).append("***");
    } else {
      out.append(param);
    }
    if (amp < end) out.push_back('&');
    pos = amp + 1;
  }
  out.append(url, end, std::string::npos);
  return out;
}

}  // namespace sdxlw
