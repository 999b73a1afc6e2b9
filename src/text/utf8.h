#pragma once
// UTF-8 <-> code points for the tokenizer. Decoding is strict: malformed input is an error,
// never silently replaced, so a prompt is either tokenized as written or rejected.

#include <string>
#include <string_view>

namespace sdxlw {

// Throws std::invalid_argument ("<what> is not valid UTF-8: ... at byte N") on a truncated or
// overlong sequence, a stray continuation byte, an encoded surrogate or a value above U+10FFFF.
std::u32string decode_utf8(std::string_view text, std::string_view what = "text");

void append_utf8(std::string& out, char32_t cp);
std::string encode_utf8(std::u32string_view cps);

}  // namespace sdxlw
