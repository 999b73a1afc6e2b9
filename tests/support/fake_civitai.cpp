#include "support/fake_civitai.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/sha256.h"

namespace sdxlw::test {
namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

}  // namespace

FakeCivitai::FakeCivitai(std::string api_key) : api_key_(std::move(api_key)) {
  api_.Get(R"(/api/download/models/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    SeenRequest seen{"api", req.path, req.get_header_value("Range"), req.get_header_value("Authorization"), 0};
    const std::string id = req.matches[1];
    std::unique_lock<std::mutex> lock(mu_);
    if (!authorized(req)) {
      res.status = 401;
      res.set_content(R"({"error":"Unauthorized"})", "application/json");
    } else if (!files_.count(id)) {
      res.status = 404;
      res.set_content(R"({"error":"Model not found"})", "application/json");
    } else {
      res.status = 307;
      res.set_header("Location", "http://127.0.0.1:" + std::to_string(signed_port_) + "/files/" + id + "/" +
                                     files_[id].name + "?X-Amz-Signature=sig-secret-" + id);
    }
    seen.status = res.status;
    seen_.push_back(seen);
  });
  api_.Get(R"(/api/v1/model-versions/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    SeenRequest seen{"api", req.path, "", req.get_header_value("Authorization"), 0};
    const std::string id = req.matches[1];
    std::unique_lock<std::mutex> lock(mu_);
    if (!authorized(req)) {
      res.status = 401;
      res.set_content(R"({"error":"Unauthorized"})", "application/json");
    } else if (!files_.count(id)) {
      res.status = 404;
      res.set_content(R"({"error":"No version with id )" + id + "\"}", "application/json");
    } else {
      const FakeFile& f = files_[id];
      nlohmann::json model = {{"id", 1}, {"name", f.name}, {"type", "Model"}, {"primary", true},
                              {"metadata", {{"format", "SafeTensor"}, {"size", "pruned"}, {"fp", "fp16"}}}};
      if (f.list_hash) model["hashes"] = {{"SHA256", upper(sha256_hex(f.body))}, {"AutoV2", "0123456789"}};
      nlohmann::json vae = {{"id", 2},
                            {"name", "vae.safetensors"},
                            {"type", "VAE"},
                            {"primary", false},
                            {"hashes", {{"SHA256", std::string(64, 'A')}}}};
      nlohmann::json answer = {{"id", std::stol(id)}, {"name", "v1"}, {"files", {vae, model}}};
      res.status = 200;
      res.set_content(answer.dump(), "application/json");
    }
    seen.status = res.status;
    seen_.push_back(seen);
  });

  signed_.Get(R"(/files/(\d+)/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    serve_file(req, res);
  });

  api_port_ = api_.bind_to_any_port("127.0.0.1");
  signed_port_ = signed_.bind_to_any_port("127.0.0.1");
  if (api_port_ <= 0 || signed_port_ <= 0) throw std::runtime_error("fake civitai: cannot bind 127.0.0.1");
  api_thread_ = std::thread([this] { api_.listen_after_bind(); });
  signed_thread_ = std::thread([this] { signed_.listen_after_bind(); });
  // stop() before the accept loop runs would be lost and the destructor would wait forever.
  while (!api_.is_running() || !signed_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeCivitai::~FakeCivitai() {
  api_.stop();
  signed_.stop();
  api_thread_.join();
  signed_thread_.join();
}

bool FakeCivitai::authorized(const httplib::Request& req) const {
  return api_key_.empty() || req.get_header_value("Authorization") == "Bearer " + api_key_;
}

void FakeCivitai::serve_file(const httplib::Request& req, httplib::Response& res) {
  SeenRequest seen{"signed", req.path, req.get_header_value("Range"), req.get_header_value("Authorization"), 0};
  const std::string id = req.matches[1];
  std::unique_lock<std::mutex> lock(mu_);
  const int attempt = ++served_[id];
  auto finish = [&](int status) {
    seen.status = status;
    seen_.push_back(seen);
  };
  // Pre-signed storage URLs reject a second authentication mechanism.
  if (req.has_header("Authorization")) {
    res.status = 400;
    res.set_content("Only one auth mechanism allowed", "text/plain");
    return finish(400);
  }
  if (req.get_param_value("X-Amz-Signature") != "sig-secret-" + id) {
    res.status = 403;
    return finish(403);
  }
  if (!files_.count(id)) {
    res.status = 404;
    return finish(404);
  }
  const FakeFile f = files_[id];
  lock.unlock();

  auto body = std::make_shared<std::string>(f.body);
  if (f.mode == Serve::WrongBody) {
    for (auto& c : *body) c = static_cast<char>(~c);
  }
  const size_t size = body->size();
  if (f.mode == Serve::FailFirst && attempt <= f.failures) {
    res.status = 500;
    res.set_content("storage hiccup", "text/plain");
  } else if (f.mode == Serve::HugeLength) {
    res.set_content_provider(kHugeLength, "application/octet-stream",
                             [](size_t, size_t length, httplib::DataSink& sink) {
                               const std::string zeros(std::min<size_t>(length, 1 << 16), '\0');
                               return sink.write(zeros.data(), zeros.size());
                             });
  } else if (f.mode == Serve::IgnoreRange) {
    res.status = 200;
    res.set_chunked_content_provider("application/octet-stream", [body](size_t, httplib::DataSink& sink) {
      sink.write(body->data(), body->size());
      sink.done();
      return true;
    });
  } else {
    const bool drop = f.mode == Serve::DropHalfOnce && attempt == 1;
    const bool slow = f.mode == Serve::Slow;
    // httplib applies the request's Range itself: the provider sees offsets into the whole file.
    res.set_content_provider(size, "application/octet-stream",
                             [body, size, drop, slow](size_t offset, size_t length, httplib::DataSink& sink) {
                               const size_t half = size / 2;
                               if (drop && offset >= half) return false;  // closes the connection
                               size_t n = std::min<size_t>(length, slow ? 2048 : 1 << 16);
                               if (drop) n = std::min(n, half - offset);
                               if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(15));
                               return sink.write(body->data() + offset, n);
                             });
  }
  lock.lock();
  finish(res.status == -1 ? 200 : res.status);
}

void FakeCivitai::add(FakeFile file) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[file.id] = std::move(file);
}

std::string FakeCivitai::download_url(const std::string& id) const {
  return "http://" + api_authority() + "/api/download/models/" + id;
}

std::vector<SeenRequest> FakeCivitai::seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

int FakeCivitai::downloads(const std::string& id) const {
  int n = 0;
  for (const auto& r : seen())
    if (r.host == "signed" && r.path.rfind("/files/" + id + "/", 0) == 0) ++n;
  return n;
}

std::vector<std::string> FakeCivitai::ranges(const std::string& id) const {
  std::vector<std::string> out;
  for (const auto& r : seen())
    if (r.host == "signed" && r.path.rfind("/files/" + id + "/", 0) == 0) out.push_back(r.range);
  return out;
}

int FakeCivitai::version_lookups(const std::string& id) const {
  int n = 0;
  for (const auto& r : seen())
    if (r.host == "api" && r.path == "/api/v1/model-versions/" + id) ++n;
  return n;
}

size_t FakeCivitai::request_count() const { return seen().size(); }

int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);  // bound but never listened on, then released: connections are refused
  return port;
}

std::string pseudo_random_bytes(size_t size, uint32_t seed) {
  std::string out(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return out;
}

}  // namespace sdxlw::test
