#pragma once
// What the store knows about Civitai: which hosts may receive the API key, the download URL form
// /api/download/models/{modelVersionId}, and the SHA-256 in the model-version API's answer.

#include <optional>
#include <string>
#include <vector>

#include "net/url.h"

namespace sdxlw {

// CIVITAI_HOSTS: comma-separated host[:port] entries, lower-cased; blanks skipped. An empty or
// unset value gives {"civitai.com"}. Throws std::runtime_error naming a malformed entry.
std::vector<std::string> parse_civitai_hosts(const std::string& value);

// Whether a request to `url` may carry the key: its host equals an entry's host
// (case-insensitive) and, when the entry names a port, its port equals that port.
bool host_receives_key(const Url& url, const std::vector<std::string>& hosts);

// The model version id of a Civitai download URL (path /api/download/models/{digits}), if any.
std::optional<std::string> civitai_model_version(const Url& url);

// {scheme}://{host[:port]}/api/v1/model-versions/{id}, on the download URL's own host.
std::string civitai_version_api_url(const Url& download_url, const std::string& version_id);

struct VersionHash {
  std::string sha256;  // lower-case hex; empty when the answer has none for the file
  std::string file;    // the file's name in the answer, for messages
  std::string error;   // the answer could not be read
};

// The SHA-256 of the file that `download_url` downloads, from a model-version API answer:
// the file matching the URL's type/format/size/fp query parameters when given, else the
// primary file, else the only one.
VersionHash sha256_from_model_version(const std::string& json_body, const Url& download_url);

}  // namespace sdxlw
