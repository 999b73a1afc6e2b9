#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace sdxlw {
namespace {

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::runtime_error map_error(const std::string& path, const char* what, int err) {
  return std::runtime_error("cannot map \"" + path + "\": " + what + ": " + std::strerror(err));
}

uint64_t page_size() {
  static const uint64_t size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

MappedFile::MappedFile(const std::string& path, Access access) : path_(path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw map_error(path, "open failed", errno);
  UniqueFd owner(fd);

  struct stat st {};
  if (::fstat(fd, &st) != 0) throw map_error(path, "fstat failed", errno);
  if (!S_ISREG(st.st_mode)) {
    throw std::runtime_error("cannot map \"" + path + "\": not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ == 0) return;
  if (size_ > static_cast<uint64_t>(SIZE_MAX)) {
    throw std::runtime_error("cannot map \"" + path + "\": file too large for the address space");
  }

  int prot = PROT_READ;
  // MAP_NORESERVE: a multi-GB checkpoint mapped copy-on-write should not be charged as if every
  // page were about to be written.
  int flags = MAP_SHARED;
  if (access == Access::CopyOnWrite) {
    prot |= PROT_WRITE;
    flags = MAP_PRIVATE | MAP_NORESERVE;
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(size_), prot, flags, fd, 0);
  if (p == MAP_FAILED) throw map_error(path, "mmap failed", errno);
  data_ = static_cast<uint8_t*>(p);
}

MappedFile::~MappedFile() { unmap(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void MappedFile::unmap() noexcept {
  if (data_) ::munmap(data_, static_cast<size_t>(size_));
  data_ = nullptr;
  size_ = 0;
}

bool MappedFile::will_need(uint64_t offset, uint64_t length) const {
  if (!data_ || offset >= size_) return true;
  length = std::min(length, size_ - offset);
  const uint64_t begin = offset / page_size() * page_size();  // madvise wants an aligned start
  const uint64_t end = offset + length;
  if (end <= begin) return true;
  return ::madvise(data_ + begin, static_cast<size_t>(end - begin), MADV_WILLNEED) == 0;
}

bool MappedFile::dont_need(uint64_t offset, uint64_t length) const {
  if (!data_ || offset >= size_) return true;
  length = std::min(length, size_ - offset);
  const uint64_t page = page_size();
  const uint64_t begin = (offset + page - 1) / page * page;
  uint64_t end = offset + length;
  // The file's last partial page belongs to nobody else, so it may go too.
  if (end != size_) end = end / page * page;
  if (end <= begin) return true;
  return ::madvise(data_ + begin, static_cast<size_t>(end - begin), MADV_DONTNEED) == 0;
}

}  // namespace sdxlw
