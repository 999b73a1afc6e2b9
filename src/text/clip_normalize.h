#pragma once
// The openai CLIP text cleaning as the SDXL fixtures define it (tests/fixtures/README.md §2):
// NFC; html.unescape twice; strip; every run of whitespace -> one space; strip; str.lower().

#include <string>
#include <string_view>

namespace sdxlw {

// Python's str.isspace(), used by str.strip(): general category Zs or bidi class WS, B or S
// (so it includes U+001C..U+001F).
bool is_python_space(char32_t c);
// `\s` of Python's `regex` module, used by the whitespace collapse and the pre-tokenizer: the
// Unicode White_Space property (U+001C..U+001F are not in it).
bool is_regex_space(char32_t c);

// Python's str.lower(): full case mapping (U+0130 -> "i\u0307") with the final-sigma rule.
std::u32string python_lower(std::u32string_view text);

// UTF-8 in, UTF-8 out; throws std::invalid_argument on malformed UTF-8.
std::string clip_normalize(std::string_view text);

}  // namespace sdxlw
