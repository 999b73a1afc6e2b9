#include "store/models_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/file_util.h"
#include "net/url.h"

namespace sdxlw {
namespace {

using nlohmann::json;

const std::set<std::string> kCheckpointFields = {"name", "filename", "url", "sha256"};
const std::set<std::string> kLoraFields = {"name", "filename", "url", "scale", "sha256"};
const std::set<std::string> kTopFields = {"checkpoint", "loras"};

// Suffixes of the store's own files next to a model (download part, lock, verified record).
const char* const kReservedSuffixes[] = {".part", ".lock", ".sha256.json", ".sha256.json.tmp"};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string json_type(const json& v) { return v.type_name(); }

std::string q(const std::string& s) { return json(s).dump(); }

// The problem with a filename, or "" when it is fine.
std::string filename_problem(const std::string& f) {
  if (f.empty()) return "filename is empty";
  if (f.find('/') != std::string::npos || f.find('\\') != std::string::npos) {
    return "filename " + q(f) + " contains a path separator (give a plain file name inside the models dir)";
  }
  if (f == "." || f == "..") return "filename " + q(f) + " is not a file name";
  if (f.find('\0') != std::string::npos) return "filename contains a NUL character";
  for (const char* suffix : kReservedSuffixes) {
    if (ends_with(f, suffix)) {
      return "filename " + q(f) + " ends in \"" + suffix + "\", which the store uses for its own files";
    }
  }
  return "";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

class Parser {
 public:
  explicit Parser(std::vector<std::string>& problems) : problems_(problems) {}

  ModelEntry entry(const json& v, const std::string& where, bool is_lora) {
    ModelEntry e;
    if (!v.is_object()) {
      problems_.push_back(where + " must be an object, got " + json_type(v));
      return e;
    }
    std::string label = where;
    if (auto it = v.find("name"); it != v.end() && it->is_string() && !it->get<std::string>().empty()) {
      label += " (" + q(it->get<std::string>()) + ")";
    }
    const auto& allowed = is_lora ? kLoraFields : kCheckpointFields;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!allowed.count(it.key())) {
        std::string known;
        for (const auto& f : allowed) known += (known.empty() ? "" : ", ") + f;
        problems_.push_back(label + ": unknown field " + q(it.key()) + " (known: " + known + ")");
      }
    }
    e.name = string_field(v, "name", label, true);
    if (v.contains("name") && v["name"].is_string() && e.name.empty()) {
      problems_.push_back(label + ": name is empty");
    }
    e.filename = string_field(v, "filename", label, true);
    if (v.contains("filename") && v["filename"].is_string()) {
      if (auto p = filename_problem(e.filename); !p.empty()) problems_.push_back(label + ": " + p);
    }
    e.url = string_field(v, "url", label, false);
    if (v.contains("url") && v["url"].is_string()) {
      auto url = parse_url(e.url);
      if (e.url.empty()) {
        problems_.push_back(label + ": url is empty (leave it out when the file is already in the models dir)");
      } else if (!url) {
        problems_.push_back(label + ": url " + q(redact_url(e.url)) + " is not an absolute http(s) URL");
      }
    }
    e.sha256 = string_field(v, "sha256", label, false);
    if (v.contains("sha256") && v["sha256"].is_string()) {
      if (!is_hex64(e.sha256)) {
        problems_.push_back(label + ": sha256 " + q(e.sha256) + " is not 64 hexadecimal digits");
      }
      e.sha256 = lower(e.sha256);
    }
    if (is_lora) {
      auto it = v.find("scale");
      if (it == v.end()) {
        problems_.push_back(label + ": scale is missing (the LoRA's default strength, e.g. 1.0)");
      } else if (!it->is_number()) {
        problems_.push_back(label + ": scale must be a number, got " + json_type(*it));
      } else if (!std::isfinite(it->get<double>())) {
        problems_.push_back(label + ": scale must be a finite number");
      } else {
        e.scale = it->get<double>();
      }
    }
    return e;
  }

 private:
  std::string string_field(const json& v, const char* field, const std::string& label, bool required) {
    auto it = v.find(field);
    if (it == v.end()) {
      if (required) problems_.push_back(label + ": " + field + " is missing");
      return "";
    }
    if (!it->is_string()) {
      problems_.push_back(label + ": " + field + " must be a string, got " + json_type(*it));
      return "";
    }
    return it->get<std::string>();
  }

  std::vector<std::string>& problems_;
};

std::string entry_label(const std::string& where, const ModelEntry& e) {
  return e.name.empty() ? where : where + " (" + q(e.name) + ")";
}

}  // namespace

ModelsConfig parse_models_config(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw std::runtime_error(source + " is not valid JSON: " + e.what());
  }
  std::vector<std::string> problems;
  ModelsConfig config;
  config.source = source;
  if (!root.is_object()) {
    throw std::runtime_error(source + ": the top level must be an object with \"checkpoint\" and \"loras\", got " +
                             json_type(root));
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!kTopFields.count(it.key())) {
      problems.push_back("unknown field " + q(it.key()) + " (known: checkpoint, loras)");
    }
  }
  Parser parser(problems);
  if (auto it = root.find("checkpoint"); it == root.end()) {
    problems.push_back("checkpoint is missing");
  } else {
    config.checkpoint = parser.entry(*it, "checkpoint", false);
  }
  if (auto it = root.find("loras"); it != root.end()) {
    if (!it->is_array()) {
      problems.push_back("loras must be an array, got " + json_type(*it));
    } else {
      for (size_t i = 0; i < it->size(); ++i) {
        config.loras.push_back(parser.entry((*it)[i], "loras[" + std::to_string(i) + "]", true));
      }
    }
  }

  // Names select LoRAs in jobs; file names are cache entries: both must be unique.
  std::map<std::string, std::string> lora_names;
  std::map<std::string, std::string> filenames;
  auto check_filename = [&](const std::string& where, const ModelEntry& e) {
    if (e.filename.empty()) return;
    auto [it, inserted] = filenames.emplace(e.filename, entry_label(where, e));
    if (!inserted) {
      problems.push_back(entry_label(where, e) + ": filename " + q(e.filename) + " is also used by " +
                         it->second);
    }
  };
  if (root.contains("checkpoint")) check_filename("checkpoint", config.checkpoint);
  for (size_t i = 0; i < config.loras.size(); ++i) {
    const std::string where = "loras[" + std::to_string(i) + "]";
    const ModelEntry& e = config.loras[i];
    if (!e.name.empty()) {
      auto [it, inserted] = lora_names.emplace(e.name, where);
      if (!inserted) problems.push_back(entry_label(where, e) + ": name duplicates " + it->second);
    }
    check_filename(where, e);
  }

  if (!problems.empty()) {
    std::string msg = source + " is invalid: ";
    for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    throw std::runtime_error(msg);
  }
  return config;
}

ModelsConfig load_models_config(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("cannot read the models file: ") + e.what() +
                             " (pass --models FILE or create models.json)");
  }
  return parse_models_config(text, path);
}

}  // namespace sdxlw
