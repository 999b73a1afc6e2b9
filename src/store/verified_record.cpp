#include "store/verified_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/file_util.h"
#include "store/file_ops.h"

namespace sdxlw {

std::string verified_record_path(const std::string& file_path) { return file_path + ".sha256.json"; }

std::optional<VerifiedRecord> read_verified_record(const std::string& file_path) {
  const std::string path = verified_record_path(file_path);
  if (!stat_file(path).regular) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(read_file(path));
    VerifiedRecord r;
    r.sha256 = j.at("sha256").get<std::string>();
    r.size = j.at("size").get<uint64_t>();
    r.mtime_ns = j.at("mtime_ns").get<int64_t>();
    if (r.sha256.size() != 64) return std::nullopt;
    return r;
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged record only costs a re-hash
  }
}

void write_verified_record(const std::string& file_path, const std::string& sha256) {
  const FileStat st = stat_file(file_path);
  if (!st.regular) throw std::runtime_error("cannot record the hash of \"" + file_path + "\": not a file");
  nlohmann::json j = {{"sha256", sha256}, {"size", st.size}, {"mtime_ns", st.mtime_ns}};
  const std::string path = verified_record_path(file_path);
  const std::string tmp = path + ".tmp";
  const std::string text = j.dump(1) + "\n";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw std::runtime_error("cannot create \"" + tmp + "\": " + std::strerror(errno));
    if (int err = write_all(fd.get(), text.data(), text.size())) {
      remove_file(tmp);
      throw std::runtime_error("cannot write \"" + tmp + "\": " + std::strerror(err));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    remove_file(tmp);
    throw std::runtime_error("cannot rename \"" + tmp + "\" to \"" + path + "\": " + std::strerror(err));
  }
}

std::optional<std::string> trusted_sha256(const std::string& file_path) {
  const FileStat st = stat_file(file_path);
  if (!st.regular) return std::nullopt;
  auto record = read_verified_record(file_path);
  if (!record || record->size != st.size || record->mtime_ns != st.mtime_ns) return std::nullopt;
  return record->sha256;
}

void remove_verified_record(const std::string& file_path) { remove_file(verified_record_path(file_path)); }

}  // namespace sdxlw
