#pragma once
// Progress lines for a long download, at most one per interval plus a final one:
// "store: downloading jib.safetensors 41% 512.0/1250.0 MB 118.3 MB/s ETA 6s".

#include <chrono>
#include <cstdint>
#include <string>

namespace sdxlw {

// One progress line without the "store: " prefix. total < 0: unknown size (no percent, no ETA).
std::string format_progress(const std::string& name, uint64_t done, int64_t total, double bytes_per_s);

// "6s", "2m05s", "1h02m".
std::string format_duration(double seconds);

class DownloadProgress {
 public:
  using Clock = std::chrono::steady_clock;

  DownloadProgress(std::string name, double interval_s);

  // A transfer (the first, or a resumed one) starts at byte `offset` of `total` (-1: unknown).
  void begin(uint64_t offset, int64_t total);
  // The file now has `offset` bytes; logs when the interval has passed since the last line.
  void advance(uint64_t offset);
  // Logs the closing line (size, time, mean rate).
  void finish(uint64_t size);

  // Bytes received by this process (all transfers) and seconds since the first begin().
  uint64_t received() const { return received_; }
  double elapsed_s() const;

 private:
  double rate() const;

  std::string name_;
  double interval_s_;
  bool started_ = false;
  Clock::time_point start_{}, last_line_{};
  uint64_t offset_ = 0;
  int64_t total_ = -1;
  uint64_t received_ = 0;
};

}  // namespace sdxlw
