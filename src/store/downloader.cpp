#include "store/downloader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "io/sha256.h"
#include "store/civitai.h"
#include "store/download_progress.h"
#include "store/file_ops.h"

namespace sdxlw {
namespace {

std::string header_of(const HttpHeaders& headers, const std::string& name) {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "";
}

std::optional<uint64_t> parse_u64(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

struct ContentRange {
  std::optional<uint64_t> start;
  std::optional<uint64_t> total;
};

// "bytes 100-199/1000", "bytes */1000" (RFC 9110 §14.4).
ContentRange parse_content_range(const std::string& value) {
  ContentRange out;
  if (value.compare(0, 6, "bytes ") != 0) return out;
  const std::string spec = value.substr(6);
  const auto slash = spec.find('/');
  if (slash == std::string::npos) return out;
  out.total = parse_u64(spec.substr(slash + 1));
  const std::string range = spec.substr(0, slash);
  const auto dash = range.find('-');
  if (dash != std::string::npos) out.start = parse_u64(range.substr(0, dash));
  return out;
}

void sleep_s(double s) {
  if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

struct Attempt {
  enum Kind { Complete, Retry, Restart } kind = Complete;
  std::string reason;
};

class Download {
 public:
  Download(HttpClient& client, const DownloadTarget& target, const StoreOptions& options)
      : client_(client),
        t_(target),
        o_(options),
        final_path_(target.dir + "/" + target.filename),
        part_path_(final_path_ + ".part"),
        progress_(target.filename, options.progress_interval_s) {}

  DownloadResult run() {
    open_part();
    bool resumed_earlier_part = offset_ > 0;
    bool retried_from_scratch = false;
    int failures = 0;
    uint64_t furthest = offset_;  // failures only reset on new ground, so a loop always ends
    for (;;) {
      Attempt a = transfer();
      if (a.kind == Attempt::Restart) {
        spdlog::info("store: {}: {}; downloading it again from the start", t_.filename, a.reason);
        restart_part();
        if (++failures >= o_.max_attempts) give_up(failures, a.reason);
        continue;
      }
      if (a.kind == Attempt::Retry) {
        if (offset_ > furthest) {
          furthest = offset_;
          failures = 0;
        }
        if (++failures >= o_.max_attempts) give_up(failures, a.reason);
        const double delay = retry_delay_s(failures, o_);
        spdlog::warn("store: {}: {}; retry {}/{} in {:.3g} s from byte {}", t_.filename, a.reason, failures,
                     o_.max_attempts - 1, delay, offset_);
        sleep_s(delay);
        continue;
      }
      if (::fsync(fd_.get()) != 0) {
        throw std::runtime_error("cannot flush \"" + part_path_ + "\" to disk: " + std::strerror(errno));
      }
      const std::string got = hasher_.hex_digest();
      if (!t_.expected_sha256.empty() && got != t_.expected_sha256) {
        if (resumed_earlier_part && !retried_from_scratch) {
          // The bytes of a part left by an earlier run are never trusted on their own.
          spdlog::warn("store: {}: SHA-256 {} does not match {} after resuming a partial download left by an "
                       "earlier run; downloading it again from the start",
                       t_.filename, got, t_.expected_sha256);
          restart_part();
          resumed_earlier_part = false;
          retried_from_scratch = true;
          failures = 0;
          furthest = 0;
          continue;
        }
        fd_.reset();
        remove_file(part_path_);
        throw std::runtime_error("SHA-256 mismatch for " + t_.filename + " (" + t_.source.label + ", " +
                                 t_.source.what() + "): expected " + t_.expected_sha256 + ", got " + got +
                                 "; the downloaded file was deleted");
      }
      if (t_.expected_sha256.empty()) {
        spdlog::warn("store: {}: no SHA-256 to verify against (give \"sha256\" in models.json); recorded {}",
                     t_.filename, got);
      }
      fd_.reset();
      if (std::rename(part_path_.c_str(), final_path_.c_str()) != 0) {
        throw std::runtime_error("cannot rename \"" + part_path_ + "\" to \"" + final_path_ +
                                 "\": " + std::strerror(errno));
      }
      fsync_directory(t_.dir);
      progress_.finish(offset_);
      DownloadResult r;
      r.path = final_path_;
      r.sha256 = got;
      r.size = offset_;
      r.received = progress_.received();
      r.seconds = progress_.elapsed_s();
      return r;
    }
  }

 private:
  [[noreturn]] void give_up(int attempts, const std::string& reason) {
    throw std::runtime_error("giving up on " + t_.filename + " (" + t_.source.label + ", " + t_.source.what() +
                             ") after " + std::to_string(attempts) + " failed attempts: " + reason +
                             (offset_ > 0 ? "; the " + human_bytes(offset_) + " received are kept in \"" +
                                                part_path_ + "\" and resumed next time"
                                          : ""));
  }

  void open_part() {
    fd_.reset(::open(part_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!fd_) throw std::runtime_error("cannot create \"" + part_path_ + "\": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) {
      throw std::runtime_error("cannot stat \"" + part_path_ + "\": " + std::strerror(errno));
    }
    hasher_ = Sha256();
    offset_ = 0;
    const uint64_t size = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
    if (size == 0) return;
    spdlog::info("store: {}: resuming the partial download left by an earlier run at byte {} ({})", t_.filename,
                 size, human_bytes(size));
    UniqueFd in(::open(part_path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) throw std::runtime_error("cannot open \"" + part_path_ + "\": " + std::strerror(errno));
    std::vector<char> buf(1 << 20);
    while (offset_ < size) {
      const ssize_t n = ::read(in.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error("cannot read \"" + part_path_ + "\": " + std::strerror(errno));
      if (n == 0) break;
      hasher_.update(buf.data(), static_cast<size_t>(n));
      offset_ += static_cast<uint64_t>(n);
    }
  }

  void restart_part() {
    if (::ftruncate(fd_.get(), 0) != 0) {
      throw std::runtime_error("cannot truncate \"" + part_path_ + "\": " + std::strerror(errno));
    }
    hasher_ = Sha256();
    offset_ = 0;
  }

  std::string disk_full_message(uint64_t needed) const {
    const int64_t free = free_bytes(t_.dir);
    return "not enough disk space in \"" + t_.dir + "\" for " + t_.filename + " (" + t_.source.label +
           "): it needs " + std::to_string(needed) + " more bytes (" + human_bytes(needed) + ")" +
           (free >= 0 ? ", " + std::to_string(free) + " bytes (" + human_bytes(static_cast<uint64_t>(free)) +
                            ") are free"
                      : "") +
           "; free some space or point --models-dir / MODELS_DIR elsewhere";
  }

  Attempt transfer() {
    std::string fatal;
    std::string restart_reason;
    int write_errno = 0;
    bool started = false;

    HttpRequest req;
    req.timeout_s = 0;  // a multi-GB file takes as long as it takes; stalls are caught below
    req.connect_timeout_s = o_.connect_timeout_s;
    req.low_speed_timeout_s = o_.low_speed_timeout_s;
    req.headers.emplace_back("Accept-Encoding", "identity");  // byte ranges of the file itself
    const uint64_t range_from = offset_;
    if (range_from > 0) req.headers.emplace_back("Range", "bytes=" + std::to_string(range_from) + "-");

    auto on_start = [&](long status, const HttpHeaders& headers) {
      started = true;
      total_ = -1;
      if (status == 206) {
        const ContentRange cr = parse_content_range(header_of(headers, "content-range"));
        if (!cr.start || *cr.start != range_from) {
          restart_reason = "the server answered the resume request with an unexpected range \"" +
                           header_of(headers, "content-range") + "\"";
          return false;
        }
        if (cr.total) total_ = static_cast<int64_t>(*cr.total);
      } else {
        if (offset_ > 0) {
          spdlog::info("store: {}: the server ignored the resume request; downloading from the start", t_.filename);
          try {
            restart_part();
          } catch (const std::exception& e) {
            fatal = e.what();
            return false;
          }
        }
        if (auto len = parse_u64(header_of(headers, "content-length"))) total_ = static_cast<int64_t>(*len);
      }
      if (total_ >= 0 && static_cast<uint64_t>(total_) > offset_) {
        const uint64_t needed = static_cast<uint64_t>(total_) - offset_;
        const int64_t free = free_bytes(t_.dir);
        if (free >= 0 && static_cast<uint64_t>(free) < needed) {
          fatal = disk_full_message(needed);
          return false;
        }
      }
      progress_.begin(offset_, total_);
      return true;
    };
    auto sink = [&](const char* data, size_t size) {
      if (int err = write_all(fd_.get(), data, size)) {
        write_errno = err;
        return false;
      }
      hasher_.update(data, size);
      offset_ += size;
      progress_.advance(offset_);
      return true;
    };

    const HopResult r = get_following_redirects(client_, t_.source, req, o_, sink, on_start);
    if (!fatal.empty()) throw std::runtime_error(fatal);
    if (write_errno == ENOSPC || write_errno == EDQUOT) {
      const uint64_t needed = total_ > static_cast<int64_t>(offset_) ? static_cast<uint64_t>(total_) - offset_ : 0;
      throw std::runtime_error(
          "the disk filled up while writing \"" + part_path_ + "\": " +
          (needed > 0 ? disk_full_message(needed) : "not enough disk space in \"" + t_.dir + "\" for " +
                                                        t_.filename + "; free some space") +
          (offset_ > 0 ? " (the " + human_bytes(offset_) + " received are kept and resumed next time)" : ""));
    }
    if (write_errno) {
      throw std::runtime_error("cannot write \"" + part_path_ + "\": " + std::strerror(write_errno));
    }
    if (!restart_reason.empty()) return {Attempt::Restart, restart_reason};
    const HttpResponse& res = r.response;
    if (!res.transport_ok()) {
      return {Attempt::Retry, "transfer from " + r.url.host + " failed at byte " + std::to_string(offset_) +
                                  (total_ >= 0 ? " of " + std::to_string(total_) : "") + ": " + res.error};
    }
    const long status = res.status;
    if (status >= 200 && status < 300) {
      if (!started) {
        // An empty body: the file is empty (200) or nothing is left to send (206).
        if (status == 200 && offset_ > 0) restart_part();
        total_ = static_cast<int64_t>(offset_);
      }
      if (total_ >= 0 && offset_ < static_cast<uint64_t>(total_)) {
        return {Attempt::Retry, "the connection closed at byte " + std::to_string(offset_) + " of " +
                                    std::to_string(total_)};
      }
      if (total_ >= 0 && offset_ > static_cast<uint64_t>(total_)) {
        return {Attempt::Restart, "received more bytes than the announced " + std::to_string(total_)};
      }
      return {};
    }
    if (status == 416) {
      const ContentRange cr = parse_content_range(res.header("content-range"));
      if (cr.total && *cr.total == offset_) {
        total_ = static_cast<int64_t>(offset_);
        return {};  // the part already holds the whole file
      }
      return {Attempt::Restart, "the partial download (" + std::to_string(offset_) +
                                    " bytes) does not fit the file on the server"};
    }
    if (is_retryable_status(status)) {
      return {Attempt::Retry, r.url.host + " answered " + std::to_string(status)};
    }
    if (r.hop > 0 && (status == 401 || status == 403 || status == 404)) {
      // A pre-signed link can expire between the redirect and the request: ask again.
      return {Attempt::Retry, r.url.host + " (reached by a redirect) answered " + std::to_string(status)};
    }
    throw std::runtime_error(http_error_message(r, t_.source, o_));
  }

  HttpClient& client_;
  const DownloadTarget& t_;
  const StoreOptions& o_;
  std::string final_path_;
  std::string part_path_;
  DownloadProgress progress_;
  UniqueFd fd_;
  Sha256 hasher_;
  uint64_t offset_ = 0;
  int64_t total_ = -1;
};

}  // namespace

DownloadResult download_model_file(HttpClient& client, const DownloadTarget& target, const StoreOptions& options) {
  try {
    return Download(client, target, options).run();
  } catch (...) {
    // A part that received nothing (say, after a 401) is clutter; one with bytes is kept to resume.
    const std::string part = target.dir + "/" + target.filename + ".part";
    const FileStat st = stat_file(part);
    if (st.regular && st.size == 0) remove_file(part);
    throw;
  }
}

std::string fetch_civitai_sha256(HttpClient& client, const ModelSource& source, const StoreOptions& options) {
  if (!source.version_id) throw std::logic_error("fetch_civitai_sha256 needs a Civitai download URL");
  auto api_url = parse_url(civitai_version_api_url(source.url, *source.version_id));
  if (!api_url) throw std::runtime_error("cannot form the model-version API URL for " + source.what());
  ModelSource api = source;
  api.url = *api_url;
  HttpRequest req;
  req.timeout_s = options.api_timeout_s;
  req.connect_timeout_s = options.connect_timeout_s;
  req.headers.emplace_back("Accept", "application/json");
  for (int failures = 0;;) {
    const HopResult r = get_following_redirects(client, api, req, options);
    std::string reason;
    if (!r.response.transport_ok()) {
      reason = "cannot reach " + r.url.host + ": " + r.response.error;
    } else if (is_retryable_status(r.response.status)) {
      reason = r.url.host + " answered " + std::to_string(r.response.status);
    } else if (r.response.status != 200) {
      throw std::runtime_error(http_error_message(r, api, options));
    } else {
      const VersionHash vh = sha256_from_model_version(r.response.body, source.url);
      if (!vh.error.empty()) {
        throw std::runtime_error("cannot read the SHA-256 of " + source.what() + " (" + source.label + ") from " +
                                 redact_url(api_url->text) + ": " + vh.error);
      }
      if (vh.sha256.empty()) {
        spdlog::warn("store: {} lists no SHA-256 for {} ({})", r.url.host, source.what(), source.label);
      } else {
        spdlog::info("store: {} ({}): SHA-256 {} from {}{}", source.label, source.what(), vh.sha256, r.url.host,
                     vh.file.empty() ? "" : " (file " + vh.file + ")");
      }
      return vh.sha256;
    }
    if (++failures >= options.max_attempts) {
      throw std::runtime_error("cannot get the SHA-256 of " + source.what() + " (" + source.label + ") after " +
                               std::to_string(failures) + " attempts: " + reason);
    }
    const double delay = retry_delay_s(failures, options);
    spdlog::warn("store: model-version lookup for {}: {}; retry {}/{} in {:.3g} s", source.what(), reason, failures,
                 options.max_attempts - 1, delay);
    sleep_s(delay);
  }
}

}  // namespace sdxlw
