#pragma once
// Downloads one model file into the models dir: NAME.part (resumed with a Range request when
// it has bytes, e.g. from a worker that died), retried with capped back-off, SHA-256 checked,
// fsynced and renamed to NAME. The caller holds the entry's lock.

#include <cstdint>
#include <string>

#include "net/http_client.h"
#include "store/model_request.h"
#include "store/model_store.h"

namespace sdxlw {

struct DownloadTarget {
  ModelSource source;
  std::string dir;
  std::string filename;
  std::string expected_sha256;  // lower-case hex; empty: nothing to check against
};

struct DownloadResult {
  std::string path;
  std::string sha256;     // lower-case hex of the file
  uint64_t size = 0;      // bytes of the file
  uint64_t received = 0;  // bytes transferred by this process (less than size after a resume)
  double seconds = 0;
};

// Throws std::runtime_error with a readable message: an HTTP error that retrying cannot fix
// (see http_error_message), too many failed attempts, a full disk (naming the directory and
// the bytes needed; the part is kept for a later resume), or a SHA-256 mismatch (expected vs
// got; the part is deleted).
DownloadResult download_model_file(HttpClient& client, const DownloadTarget& target, const StoreOptions& options);

// The SHA-256 Civitai lists for the file of `source` (a URL of the download form), from
// /api/v1/model-versions/{id} on the URL's own host. Empty (with a warning) when the answer
// lists none. Throws like download_model_file for HTTP errors and unreadable answers.
std::string fetch_civitai_sha256(HttpClient& client, const ModelSource& source, const StoreOptions& options);

}  // namespace sdxlw
