#include "store/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sdxlw {

FileLock::FileLock(const std::string& path, const std::function<void()>& on_wait)
    : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
  if (!fd_) {
    problem_ = "cannot create \"" + path + "\": " + std::strerror(errno);
    return;
  }
  int rc;
  do {
    rc = ::flock(fd_.get(), LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno == EWOULDBLOCK) {
    waited_ = true;
    if (on_wait) on_wait();
    do {
      rc = ::flock(fd_.get(), LOCK_EX);
    } while (rc != 0 && errno == EINTR);
  }
  if (rc != 0) {
    problem_ = "cannot lock \"" + path + "\": " + std::strerror(errno);
    fd_.reset();
    return;
  }
  held_ = true;
}

FileLock::~FileLock() {
  if (held_) ::flock(fd_.get(), LOCK_UN);
}

}  // namespace sdxlw
