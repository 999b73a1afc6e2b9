#include "store/download_progress.h"

#include <cmath>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "store/file_ops.h"

namespace sdxlw {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const long s = std::lround(seconds);
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%lds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

std::string format_progress(const std::string& name, uint64_t done, int64_t total, double bytes_per_s) {
  // One unit for both figures, chosen by the larger one, so "512.0/1250.0 MB" reads at a glance.
  const double ref = static_cast<double>(total >= 0 ? static_cast<uint64_t>(total) : done);
  const double scale = ref >= 1e9 ? 1e9 : ref >= 1e6 ? 1e6 : 1e3;
  const char* unit = ref >= 1e9 ? "GB" : ref >= 1e6 ? "MB" : "kB";
  char buf[256];
  const double mbps = bytes_per_s / 1e6;
  if (total >= 0) {
    const double pct = total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
    const double left = static_cast<double>(total) - static_cast<double>(done);
    const std::string eta = bytes_per_s > 0 ? format_duration(left / bytes_per_s) : "?";
    std::snprintf(buf, sizeof buf, "%.0f%% %.1f/%.1f %s %.1f MB/s ETA %s", std::floor(pct),
                  static_cast<double>(done) / scale, static_cast<double>(total) / scale, unit, mbps,
                  eta.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s %.1f MB/s", static_cast<double>(done) / scale, unit, mbps);
  }
  return "downloading " + name + " " + buf;
}

DownloadProgress::DownloadProgress(std::string name, double interval_s)
    : name_(std::move(name)), interval_s_(interval_s) {}

void DownloadProgress::begin(uint64_t offset, int64_t total) {
  const auto now = Clock::now();
  if (!started_) {
    started_ = true;
    start_ = now;
    last_line_ = now;
  }
  offset_ = offset;
  total_ = total;
}

void DownloadProgress::advance(uint64_t offset) {
  if (offset > offset_) received_ += offset - offset_;
  offset_ = offset;
  const auto now = Clock::now();
  if (std::chrono::duration<double>(now - last_line_).count() >= interval_s_) {
    last_line_ = now;
    spdlog::info("store: {}", format_progress(name_, offset_, total_, rate()));
  }
}

void DownloadProgress::finish(uint64_t size) {
  const double secs = elapsed_s();
  spdlog::info("store: downloaded {} ({}) in {:.1f} s, {} this run at {:.1f} MB/s", name_, human_bytes(size), secs,
               human_bytes(received_), rate() / 1e6);
}

double DownloadProgress::elapsed_s() const {
  if (!started_) return 0;
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

double DownloadProgress::rate() const {
  const double secs = elapsed_s();
  return secs > 0 ? static_cast<double>(received_) / secs : 0;
}

}  // namespace sdxlw
