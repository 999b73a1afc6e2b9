#pragma once
// safetensors files: a memory-mapped reader that validates everything before trusting it, and a
// streaming writer. Format: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the data section; offsets are relative to the data section.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdxlw {

enum class DType : uint8_t { F16, BF16, F32, F64, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dtype);                     // "F16", ...
size_t dtype_size(DType dtype);                          // bytes per element
std::optional<DType> parse_dtype(std::string_view name);  // nullopt for unknown / unsupported

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t nbytes = 0;
  int64_t numel() const;
};

// Every failure names the file, the tensor (when there is one) and the problem.
class SafetensorsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class MappedFile;

class SafetensorsFile {
 public:
  // Maps `path` privately (copy-on-write: tensors viewing the mapping may be modified in memory,
  // the file never is) and validates the header. Throws SafetensorsError.
  static SafetensorsFile open(const std::string& path);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  uint64_t file_size() const;
  // In the order of their data offsets.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;  // nullptr when absent
  const TensorInfo& at(std::string_view name) const;    // throws SafetensorsError when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor's bytes inside the mapping (writable, copy-on-write). Not necessarily aligned to
  // the element size: the data section starts at 8 + header length.
  uint8_t* data(const TensorInfo& tensor) const;
  // Drops this tensor's pages from the process (they stay in the page cache); call after
  // converting a tensor to its own storage so peak RSS does not count the file twice.
  // Must not be called while anything still views the tensor's bytes.
  void release(const TensorInfo& tensor) const;
  // Asks the kernel to read the whole file ahead (MADV_WILLNEED).
  void prefetch() const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  uint64_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes a safetensors file tensor by tensor, so multi-GB files never sit in memory whole.
// The layout is fixed up front; write() must then be called once per tensor, in the given order.
// The data section starts at a multiple of 8 bytes. A writer destroyed before finish()
// succeeded removes its incomplete file. Errors throw SafetensorsError naming the path.
class SafetensorsWriter {
 public:
  struct Entry {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
  };
  SafetensorsWriter(const std::string& path, std::vector<Entry> entries,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Appends the next tensor's raw little-endian bytes; nbytes must equal numel × dtype size.
  void write(const void* data, size_t nbytes);
  // Flushes and closes; throws if a tensor is missing or the disk failed.
  void finish();

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const;
  };
  std::string path_;
  std::vector<Entry> entries_;
  size_t next_ = 0;
  std::unique_ptr<std::FILE, FileCloser> file_;
};

// Writes a whole file at once from tensors already in memory (each pointer holds the entry's
// numel × dtype size bytes).
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<SafetensorsWriter::Entry, const void*>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sdxlw
