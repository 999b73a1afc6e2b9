#pragma once
// An in-process fake of Civitai for the store and integration tests: two cpp-httplib servers on
// 127.0.0.1. "api" is the Civitai host (it is put in CIVITAI_HOSTS): it wants "Authorization:
// Bearer KEY", answers /api/v1/model-versions/{id} and redirects /api/download/models/{id} (307)
// to "signed", a storage host that rejects any request carrying Authorization (400), honours
// Range, and can misbehave per file. Every request is recorded.

#include <httplib.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sdxlw::test {

enum class Serve {
  Normal,
  DropHalfOnce,  // the first request closes the connection after half of the file
  WrongBody,     // same length, different bytes
  Slow,          // 2 kB pieces with a pause after each
  FailFirst,     // answers 500 to the first `failures` requests
  HugeLength,    // announces a 1 PiB file
  IgnoreRange,   // answers every request with 200 and the whole file (chunked)
};

struct FakeFile {
  std::string id;    // the model version id
  std::string name;  // the file name in the model-version answer
  std::string body;
  Serve mode = Serve::Normal;
  int failures = 0;
  bool list_hash = true;  // the model-version answer lists its SHA256
};

struct SeenRequest {
  std::string host;  // "api" or "signed"
  std::string path;
  std::string range;          // the Range header, "" when none
  std::string authorization;  // the Authorization header, "" when none
  int status = 0;
};

inline constexpr uint64_t kHugeLength = 1ULL << 50;

class FakeCivitai {
 public:
  explicit FakeCivitai(std::string api_key);
  ~FakeCivitai();
  FakeCivitai(const FakeCivitai&) = delete;
  FakeCivitai& operator=(const FakeCivitai&) = delete;

  void add(FakeFile file);

  std::string api_authority() const { return "127.0.0.1:" + std::to_string(api_port_); }
  std::string download_url(const std::string& id) const;

  std::vector<SeenRequest> seen() const;
  // GET requests for the file of version `id` that reached the signed host.
  int downloads(const std::string& id) const;
  std::vector<std::string> ranges(const std::string& id) const;  // their Range headers
  int version_lookups(const std::string& id) const;
  size_t request_count() const;

 private:
  bool authorized(const httplib::Request& req) const;
  void serve_file(const httplib::Request& req, httplib::Response& res);

  std::string api_key_;
  httplib::Server api_, signed_;
  int api_port_ = 0, signed_port_ = 0;
  std::thread api_thread_, signed_thread_;
  mutable std::mutex mu_;
  std::map<std::string, FakeFile> files_;
  std::map<std::string, int> served_;  // signed-host requests per id
  std::vector<SeenRequest> seen_;
};

// A 127.0.0.1 port on which nothing listens.
int closed_port();

// Deterministic bytes, different for each seed.
std::string pseudo_random_bytes(size_t size, uint32_t seed);

}  // namespace sdxlw::test
