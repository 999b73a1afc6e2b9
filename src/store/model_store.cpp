#include "store/model_store.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "io/sha256.h"
#include "net/http_client.h"
#include "store/civitai.h"
#include "store/downloader.h"
#include "store/file_lock.h"
#include "store/file_ops.h"
#include "store/model_request.h"
#include "store/verified_record.h"

namespace sdxlw {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string q(const std::string& s) { return "\"" + s + "\""; }

enum class How { Cached, Verified, Fetched };

struct EntryResult {
  How how = How::Cached;
  uint64_t received = 0;
};

class EntryStore {
 public:
  EntryStore(const StoreOptions& options, std::function<HttpClient&()> client)
      : o_(options), client_(std::move(client)) {}

  EntryResult ensure(const ModelEntry& entry, const std::string& label) {
    const std::string path = o_.models_dir + "/" + entry.filename;
    std::string expected = entry.sha256;
    auto trusted = [&] {
      auto sha = trusted_sha256(path);
      return sha && (expected.empty() || *sha == expected);
    };
    if (trusted()) {
      spdlog::info("store: {}: {} is cached ({}, verified earlier)", label, entry.filename,
                   human_bytes(stat_file(path).size));
      return {How::Cached, 0};
    }
    ModelSource source;
    source.label = label;
    if (!entry.url.empty()) {
      auto url = parse_url(entry.url);
      if (!url) throw std::runtime_error(label + ": url " + q(redact_url(entry.url)) + " is not an http(s) URL");
      source.url = *url;
      source.version_id = civitai_model_version(*url);
    }
    if (!stat_file(path).exists) {
      if (entry.url.empty()) {
        throw std::runtime_error(label + ": " + entry.filename + " is not in the models dir \"" + o_.models_dir +
                                 "\" and models.json gives no url to fetch it from");
      }
      if (!o_.allow_network) {
        throw std::runtime_error(label + ": " + entry.filename + " is not in the models dir \"" + o_.models_dir +
                                 "\" and downloads are off");
      }
    }

    const auto wait_start = Clock::now();
    FileLock lock(path + ".lock", [&] {
      spdlog::info("store: {}: another worker is preparing {} (it holds {}.lock); waiting for it", label,
                   entry.filename, entry.filename);
    });
    if (!lock.held()) {
      spdlog::warn("store: {}: {}; going on without the lock (workers sharing this dir may fetch it twice)", label,
                   lock.problem());
    }
    if (lock.waited()) {
      spdlog::info("store: {}: waited {:.1f} s for the other worker", label, seconds_since(wait_start));
    }
    if (trusted()) {
      spdlog::info("store: {}: {} was prepared by another worker ({})", label, entry.filename,
                   human_bytes(stat_file(path).size));
      return {How::Cached, 0};
    }

    const FileStat st = stat_file(path);
    if (st.exists) {
      if (!st.regular) throw std::runtime_error(label + ": \"" + path + "\" is not a regular file");
      const auto t0 = Clock::now();
      spdlog::info("store: {}: verifying {} ({}): no record of an earlier check", label, entry.filename,
                   human_bytes(st.size));
      const std::string got = sha256_file_hex(path);
      std::string want = expected;
      if (want.empty() && source.version_id && o_.allow_network) {
        try {
          want = fetch_civitai_sha256(client_(), source, o_);
        } catch (const std::exception& e) {
          spdlog::warn("store: {}: cannot look up the SHA-256 of {} ({}); using the file as it is", label,
                       entry.filename, e.what());
        }
      }
      if (want.empty() || got == want) {
        record(path, got);
        remove_file(path + ".part");
        spdlog::info("store: {}: {} verified in {:.1f} s (SHA-256 {}{})", label, entry.filename, seconds_since(t0),
                     got, want.empty() ? ", nothing to compare it with" : "");
        return {How::Verified, 0};
      }
      if (entry.url.empty() || !o_.allow_network) {
        throw std::runtime_error(label + ": \"" + path + "\" has SHA-256 " + got + ", expected " + want +
                                 (entry.url.empty() ? "; replace the file or correct sha256 in models.json"
                                                    : "; downloads are off, so it cannot be fetched again"));
      }
      spdlog::warn("store: {}: {} has SHA-256 {}, expected {}; replacing it with a fresh download", label,
                   entry.filename, got, want);
      remove_verified_record(path);
      if (!remove_file(path)) {
        throw std::runtime_error(label + ": cannot remove the wrong \"" + path + "\": " + std::strerror(errno));
      }
      expected = want;
    }

    if (expected.empty() && source.version_id) expected = fetch_civitai_sha256(client_(), source, o_);
    spdlog::info("store: {}: fetching {} from {}", label, entry.filename, redact_url(source.url.text));
    DownloadTarget target{source, o_.models_dir, entry.filename, expected};
    const DownloadResult r = download_model_file(client_(), target, o_);
    record(path, r.sha256);
    return {How::Fetched, r.received};
  }

  // A file verified but not recordable (e.g. a read-only models dir) is still good: it is only
  // hashed again at the next start.
  static void record(const std::string& path, const std::string& sha256) {
    try {
      write_verified_record(path, sha256);
    } catch (const std::exception& e) {
      spdlog::warn("store: {}; the file will be hashed again at the next start", e.what());
    }
  }

 private:
  const StoreOptions& o_;
  std::function<HttpClient&()> client_;
};

std::string entry_label(const char* kind, const ModelEntry& e) { return std::string(kind) + " " + q(e.name); }

}  // namespace

std::string resolve_models_dir(const std::string& flag_value, const std::string& env_value,
                               const std::string& runpod_volume) {
  std::string chosen;
  std::error_code ec;
  if (!flag_value.empty()) {
    chosen = flag_value;
  } else if (!env_value.empty()) {
    chosen = env_value;
  } else if (!runpod_volume.empty() && fs::is_directory(runpod_volume, ec)) {
    chosen = (fs::path(runpod_volume) / "models").string();
  } else {
    chosen = "models";
  }
  std::string out = fs::absolute(fs::path(chosen)).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string resolve_models_dir(const std::string& flag_value) {
  return resolve_models_dir(flag_value, env_or_empty("MODELS_DIR"), "/runpod-volume");
}

StoreOptions store_options_from_env(const std::string& models_dir) {
  StoreOptions o;
  o.models_dir = models_dir;
  o.civitai_api_key = trim(env_or_empty("CIVITAI_API_KEY"));
  o.civitai_hosts = parse_civitai_hosts(env_or_empty("CIVITAI_HOSTS"));
  return o;
}

ModelFiles ensure_models(const ModelsConfig& config, const StoreOptions& options) {
  const auto t0 = Clock::now();
  if (options.models_dir.empty()) throw std::runtime_error("store: no models dir given");
  std::error_code ec;
  fs::create_directories(options.models_dir, ec);
  if (ec || !fs::is_directory(options.models_dir)) {
    throw std::runtime_error("cannot create the models dir \"" + options.models_dir + "\"" +
                             (ec ? ": " + ec.message() : ": a file of that name is in the way") +
                             " (set --models-dir or MODELS_DIR)");
  }
  spdlog::info("store: models dir {}, {} file(s) from {}", options.models_dir, 1 + config.loras.size(),
               config.source.empty() ? "models.json" : config.source);

  std::unique_ptr<HttpClient> client;
  EntryStore store(options, [&client]() -> HttpClient& {
    if (!client) client = std::make_unique<HttpClient>();
    return *client;
  });

  int cached = 0, verified = 0, fetched = 0;
  uint64_t received = 0;
  auto tally = [&](const EntryResult& r) {
    if (r.how == How::Cached) ++cached;
    if (r.how == How::Verified) ++verified;
    if (r.how == How::Fetched) ++fetched;
    received += r.received;
  };

  ModelFiles files;
  files.checkpoint_name = config.checkpoint.name;
  files.checkpoint_path = options.models_dir + "/" + config.checkpoint.filename;
  tally(store.ensure(config.checkpoint, entry_label("checkpoint", config.checkpoint)));
  for (const auto& lora : config.loras) {
    tally(store.ensure(lora, entry_label("LoRA", lora)));
    files.loras.push_back({lora.name, options.models_dir + "/" + lora.filename, lora.scale.value_or(1.0)});
  }
  spdlog::info("store: {} file(s) ready in {:.1f} s: {} cached, {} verified, {} fetched ({})", 1 + config.loras.size(),
               seconds_since(t0), cached, verified, fetched, human_bytes(received));
  return files;
}

}  // namespace sdxlw
