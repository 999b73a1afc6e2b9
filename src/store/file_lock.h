#pragma once
// An exclusive advisory lock (flock) on a lock file, held for the object's lifetime. Several
// worker processes sharing a models dir take it per cache entry so that one downloads a file
// while the others wait and then reuse it. The kernel drops the lock when its holder dies.

#include <functional>
#include <string>

#include "store/file_ops.h"

namespace sdxlw {

class FileLock {
 public:
  // Creates `path` if needed and blocks until the lock is held. `on_wait` (when set) is called
  // once, before blocking, when another process holds it. Never throws: where the lock cannot
  // be had (a read-only dir, a file system without flock), held() is false and problem() says why.
  explicit FileLock(const std::string& path, const std::function<void()>& on_wait = {});
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  bool held() const { return held_; }
  const std::string& problem() const { return problem_; }
  // Whether another process held the lock when this one asked for it.
  bool waited() const { return waited_; }

 private:
  UniqueFd fd_;
  bool held_ = false;
  bool waited_ = false;
  std::string problem_;
};

}  // namespace sdxlw
