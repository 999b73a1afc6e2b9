#pragma once
// The sidecar NAME.sha256.json written next to a model file once its SHA-256 is verified:
// {"sha256", "size", "mtime_ns"}. While the file still has that size and mtime the hash is
// trusted, so a multi-GB checkpoint is not re-hashed at every cold start.

#include <cstdint>
#include <optional>
#include <string>

namespace sdxlw {

struct VerifiedRecord {
  std::string sha256;  // lower-case hex
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

// FILE.sha256.json
std::string verified_record_path(const std::string& file_path);

// The record next to `file_path`, or nullopt when there is none or it is unreadable.
std::optional<VerifiedRecord> read_verified_record(const std::string& file_path);

// Records `sha256` for the file as it is now (its current size and mtime), atomically
// (temporary file + rename). Throws std::runtime_error naming the sidecar.
void write_verified_record(const std::string& file_path, const std::string& sha256);

// The recorded SHA-256 when a record exists and the file still has its size and mtime.
std::optional<std::string> trusted_sha256(const std::string& file_path);

// Removes the record (a missing one is fine).
void remove_verified_record(const std::string& file_path);

}  // namespace sdxlw
