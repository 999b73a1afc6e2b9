#include "io/file_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace sdxlw {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using UniqueFile = std::unique_ptr<std::FILE, FileCloser>;

std::runtime_error file_error(const char* action, const std::string& path, int err) {
  return std::runtime_error(std::string("cannot ") + action + " \"" + path +
                            "\": " + std::strerror(err));
}

}  // namespace

std::string read_file(const std::string& path) {
  UniqueFile f(std::fopen(path.c_str(), "rb"));
  if (!f) throw file_error("open", path, errno);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const size_t n = std::fread(buf, 1, sizeof buf, f.get());
    out.append(buf, n);
    if (n < sizeof buf) break;
  }
  // Opening a directory succeeds on Linux; reading it fails with EISDIR.
  if (std::ferror(f.get())) throw file_error("read", path, errno);
  return out;
}

void write_file(const std::string& path, std::string_view bytes) {
  UniqueFile f(std::fopen(path.c_str(), "wb"));
  if (!f) throw file_error("create", path, errno);
  if (std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size()) {
    throw file_error("write", path, errno);
  }
  if (std::fclose(f.release()) != 0) throw file_error("write", path, errno);
}

}  // namespace sdxlw
