#pragma once
// Base64 with the standard alphabet and '=' padding (RFC 4648 §4).

#include <string>
#include <string_view>

namespace sdxlw {

std::string base64_encode(std::string_view bytes);

// Strict: no whitespace, no missing or misplaced padding, zero unused bits. Throws
// std::invalid_argument naming the offending position (and character) otherwise.
std::string base64_decode(std::string_view text);

}  // namespace sdxlw
