#include "store/civitai.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace sdxlw {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

struct HostEntry {
  std::string host;
  int port = 0;  // 0: any port
};

// "host", "host:port", "[v6]" or "[v6]:port"; nullopt when malformed.
std::optional<HostEntry> split_entry(const std::string& entry) {
  HostEntry out;
  std::string port;
  if (!entry.empty() && entry[0] == '[') {
    const auto close = entry.find(']');
    if (close == std::string::npos) return std::nullopt;
    out.host = entry.substr(0, close + 1);
    const std::string rest = entry.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    const auto colon = entry.find(':');
    out.host = entry.substr(0, colon);
    if (colon != std::string::npos) {
      port = entry.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
  }
  if (out.host.empty() || out.host.find_first_of("/?#@ \t") != std::string::npos) return std::nullopt;
  if (!port.empty()) {
    if (!all_digits(port) || port.size() > 5) return std::nullopt;
    out.port = std::stoi(port);
    if (out.port < 1 || out.port > 65535) return std::nullopt;
  }
  return out;
}

std::map<std::string, std::string> query_params(const std::string& query) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= query.size() && !query.empty()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    const std::string param = query.substr(pos, amp - pos);
    const auto eq = param.find('=');
    if (!param.empty()) out[lower(param.substr(0, eq))] = eq == std::string::npos ? "" : param.substr(eq + 1);
    pos = amp + 1;
  }
  return out;
}

std::string string_or_empty(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::vector<std::string> parse_civitai_hosts(const std::string& value) {
  std::vector<std::string> hosts;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string::npos) comma = value.size();
    const std::string entry = lower(trim(value.substr(pos, comma - pos)));
    if (!entry.empty()) {
      if (!split_entry(entry)) {
        throw std::runtime_error("CIVITAI_HOSTS entry \"" + entry +
                                 "\" is not host[:port] (e.g. civitai.com or 127.0.0.1:8080)");
      }
      hosts.push_back(entry);
    }
    pos = comma + 1;
  }
  if (hosts.empty()) hosts.push_back("civitai.com");
  return hosts;
}

bool host_receives_key(const Url& url, const std::vector<std::string>& hosts) {
  for (const auto& h : hosts) {
    auto entry = split_entry(lower(trim(h)));
    if (!entry) continue;
    if (entry->host == url.host && (entry->port == 0 || entry->port == url.port)) return true;
  }
  return false;
}

std::optional<std::string> civitai_model_version(const Url& url) {
  static const std::string kPrefix = "/api/download/models/";
  if (url.path.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  std::string id = url.path.substr(kPrefix.size());
  if (!id.empty() && id.back() == '/') id.pop_back();
  if (!all_digits(id)) return std::nullopt;
  return id;
}

std::string civitai_version_api_url(const Url& download_url, const std::string& version_id) {
  const bool default_port = (download_url.scheme == "https" && download_url.port == 443) ||
                            (download_url.scheme == "http" && download_url.port == 80);
  std::string out = download_url.scheme + "://" + download_url.host;
  if (!default_port) out += ":" + std::to_string(download_url.port);
  return out + "/api/v1/model-versions/" + version_id;
}

VersionHash sha256_from_model_version(const std::string& json_body, const Url& download_url) {
  VersionHash out;
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(json_body);
  } catch (const nlohmann::json::parse_error& e) {
    out.error = std::string("the model-version answer is not JSON: ") + e.what();
    return out;
  }
  auto files_it = root.is_object() ? root.find("files") : root.end();
  if (!root.is_object() || files_it == root.end() || !files_it->is_array()) {
    out.error = "the model-version answer has no \"files\" list";
    return out;
  }
  const auto& files = *files_it;
  const auto params = query_params(download_url.query);
  std::vector<const nlohmann::json*> candidates;
  for (const auto& f : files) {
    if (!f.is_object()) continue;
    bool match = true;
    auto want = [&](const char* param, const std::string& have) {
      auto it = params.find(param);
      if (it != params.end() && lower(it->second) != lower(have)) match = false;
    };
    const nlohmann::json meta = f.contains("metadata") ? f["metadata"] : nlohmann::json::object();
    want("type", string_or_empty(f, "type"));
    want("format", string_or_empty(meta, "format"));
    want("size", string_or_empty(meta, "size"));
    want("fp", string_or_empty(meta, "fp"));
    if (match) candidates.push_back(&f);
  }
  const nlohmann::json* chosen = nullptr;
  for (const auto* f : candidates) {
    auto it = f->find("primary");
    if (it != f->end() && it->is_boolean() && it->get<bool>()) {
      chosen = f;
      break;
    }
  }
  if (!chosen && !candidates.empty()) chosen = candidates.front();
  if (!chosen) {
    out.error = "the model-version answer lists no file matching the download URL";
    return out;
  }
  out.file = string_or_empty(*chosen, "name");
  if (chosen->contains("hashes")) out.sha256 = lower(string_or_empty((*chosen)["hashes"], "SHA256"));
  if (!out.sha256.empty() &&
      (out.sha256.size() != 64 ||
       !std::all_of(out.sha256.begin(), out.sha256.end(), [](unsigned char c) { return std::isxdigit(c); }))) {
    out.error = "the model-version answer's SHA256 \"" + out.sha256 + "\" is not 64 hexadecimal digits";
    out.sha256.clear();
  }
  return out;
}

}  // namespace sdxlw
