#pragma once
// A whole file mapped into memory, owned by one object. The file descriptor is closed once the
// mapping exists (the mapping keeps the file alive).

#include <cstdint>
#include <string>

namespace sdxlw {

class MappedFile {
 public:
  enum class Access {
    ReadOnly,     // PROT_READ, MAP_SHARED
    CopyOnWrite,  // PROT_READ | PROT_WRITE, MAP_PRIVATE: writes stay in this process
  };

  // Throws std::runtime_error naming the path and the errno text. An empty file is valid:
  // size() is 0 and data() is nullptr (a zero-length mmap is not possible).
  explicit MappedFile(const std::string& path, Access access = Access::CopyOnWrite);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  uint8_t* data() const { return data_; }

  // Advice for [offset, offset + length), clamped to the file. will_need() starts read-ahead;
  // dont_need() drops only the pages lying wholly inside the range (a page shared with bytes
  // outside it is kept), so neighbouring data is never discarded. Both return false (and leave
  // errno set) when the kernel refuses; they never throw.
  bool will_need(uint64_t offset, uint64_t length) const;
  bool dont_need(uint64_t offset, uint64_t length) const;

 private:
  void unmap() noexcept;
  std::string path_;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace sdxlw
