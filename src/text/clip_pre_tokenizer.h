#pragma once
// The CLIP pre-tokenizer: Python `regex` module findall of
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// with IGNORECASE, written as a scanner over code points (ordered alternation, greedy runs).

#include <string>
#include <string_view>
#include <vector>

namespace sdxlw {

enum class ClipCharClass {
  Letter,  // \p{L}
  Number,  // \p{N}
  Other,   // [^\s\p{L}\p{N}] under IGNORECASE
  Skip,    // matched by no alternative: whitespace, and U+0345 (a mark whose case partner is a letter)
};
ClipCharClass clip_char_class(char32_t c);

// Input: normalized UTF-8 text (clip_normalize). Throws std::invalid_argument on malformed UTF-8.
std::vector<std::string> clip_pre_tokenize(std::string_view normalized);

}  // namespace sdxlw
