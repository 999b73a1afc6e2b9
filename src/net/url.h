#pragma once
// Absolute http(s) URLs, parsed and resolved with libcurl's URL API (never by hand).

#include <optional>
#include <string>

namespace sdxlw {

struct Url {
  std::string text;    // the normalised URL
  std::string scheme;  // "http" or "https"
  std::string host;    // lower-case; an IPv6 literal keeps its brackets
  int port = 0;        // the explicit port, else the scheme's default (80 / 443)
  std::string path;    // starts with '/'
  std::string query;   // without the '?'; empty when there is none

  // "host:port", the form CIVITAI_HOSTS entries are compared against.
  std::string authority() const;
};

// An absolute http:// or https:// URL with a host; nullopt for anything else.
std::optional<Url> parse_url(const std::string& text);

// `reference` (a Location header: absolute, scheme-relative, absolute-path or relative) resolved
// against `base`; nullopt when the result is not an absolute http(s) URL.
std::optional<Url> resolve_url(const std::string& base, const std::string& reference);

// The URL with the values of credential-looking query parameters (token, signature, key, ...)
// replaced by "***", for log lines and error messages.
std::string redact_url(const std::string& url);

}  // namespace sdxlw
