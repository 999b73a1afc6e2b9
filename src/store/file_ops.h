#pragma once
// The few POSIX file operations the store needs, with one owner per descriptor.

#include <cstdint>
#include <string>

namespace sdxlw {

// Owns a file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() noexcept;
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// Writes all `size` bytes (retrying short writes and EINTR). Returns 0, or the errno.
int write_all(int fd, const char* data, size_t size);

// Flushes the directory entry itself, so a rename inside it survives a crash.
// Throws std::runtime_error naming the directory.
void fsync_directory(const std::string& dir);

// Bytes an unprivileged process may still write on the file system holding `dir`;
// -1 when statvfs fails.
int64_t free_bytes(const std::string& dir);

// st_size and st_mtim of a file, or exists == false.
struct FileStat {
  bool exists = false;
  bool regular = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};
FileStat stat_file(const std::string& path);

// Removes a file; a missing file is not an error. Returns false (errno set) on other failures.
bool remove_file(const std::string& path);

// "1.2 GB", "512.0 MB", "12.3 kB", "17 bytes" (SI units, as download sizes are quoted).
std::string human_bytes(uint64_t bytes);

}  // namespace sdxlw
