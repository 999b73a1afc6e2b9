#pragma once
// SHA-256 (OpenSSL EVP) of buffers and files, as lower-case hex.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace sdxlw {

class Sha256 {
 public:
  Sha256();  // throws std::runtime_error if OpenSSL cannot set up the digest
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // The digest of everything fed so far (64 lower-case hex digits). Does not end the stream:
  // update() may continue afterwards.
  std::string hex_digest() const;

 private:
  struct CtxFree {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, CtxFree> ctx_;
};

std::string sha256_hex(std::string_view bytes);

// Streams the file in large blocks. Throws std::runtime_error naming the path and errno text.
std::string sha256_file_hex(const std::string& path);

}  // namespace sdxlw
