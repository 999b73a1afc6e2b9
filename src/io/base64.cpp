#include "io/base64.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace sdxlw {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> make_decode_table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = i;
  return t;
}
constexpr std::array<uint8_t, 256> kDecode = make_decode_table();

[[noreturn]] void bad_char(std::string_view text, size_t pos) {
  const auto c = static_cast<unsigned char>(text[pos]);
  char shown[16];
  if (c >= 0x21 && c < 0x7f) {
    std::snprintf(shown, sizeof shown, "'%c'", c);
  } else {
    std::snprintf(shown, sizeof shown, "byte 0x%02x", c);
  }
  throw std::invalid_argument("invalid base64: unexpected " + std::string(shown) +
                              " at position " + std::to_string(pos));
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  const size_t n = bytes.size();
  std::string out((n + 2) / 3 * 4, '\0');
  const auto* in = reinterpret_cast<const uint8_t*>(bytes.data());
  char* o = out.data();
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    o[0] = kAlphabet[v >> 18];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = kAlphabet[(v >> 6) & 63];
    o[3] = kAlphabet[v & 63];
    o += 4;
  }
  if (const size_t rest = n - i; rest > 0) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (rest == 2 ? uint32_t{in[i + 1]} << 8 : 0);
    o[0] = kAlphabet[v >> 18];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    o[3] = '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  const size_t n = text.size();
  if (n % 4 != 0) {
    throw std::invalid_argument("invalid base64: length " + std::to_string(n) +
                                " is not a multiple of 4");
  }
  if (n == 0) return {};
  size_t pad = 0;
  if (text[n - 1] == '=') pad = text[n - 2] == '=' ? 2 : 1;
  std::string out(n / 4 * 3 - pad, '\0');
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  const auto* in = reinterpret_cast<const uint8_t*>(text.data());
  const size_t full = pad ? n - 4 : n;  // the last quantum is decoded on its own when padded
  for (size_t i = 0; i < full; i += 4) {
    const uint8_t a = kDecode[in[i]], b = kDecode[in[i + 1]], c = kDecode[in[i + 2]],
                  d = kDecode[in[i + 3]];
    if ((a | b | c | d) & 0xc0) {  // valid values are < 64
      for (size_t k = i; k < i + 4; ++k) {
        if (kDecode[in[k]] == kInvalid) bad_char(text, k);
      }
    }
    const uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6) | d;
    o[0] = static_cast<uint8_t>(v >> 16);
    o[1] = static_cast<uint8_t>(v >> 8);
    o[2] = static_cast<uint8_t>(v);
    o += 3;
  }
  if (pad) {
    const size_t i = n - 4;
    const size_t data_chars = 4 - pad;
    uint32_t v = 0;
    for (size_t k = 0; k < data_chars; ++k) {
      const uint8_t d = kDecode[in[i + k]];
      if (d == kInvalid) bad_char(text, i + k);
      v |= uint32_t{d} << (18 - 6 * k);
    }
    const uint32_t unused_mask = pad == 2 ? 0xffff : 0xff;
    if (v & unused_mask) {
      throw std::invalid_argument(
          "invalid base64: the character at position " + std::to_string(n - pad - 1) +
          " sets bits that the padding says are unused");
    }
    o[0] = static_cast<uint8_t>(v >> 16);
    if (pad == 1) o[1] = static_cast<uint8_t>(v >> 8);
  }
  return out;
}

}  // namespace sdxlw
