#include "text/clip_pre_tokenizer.h"

#include <unicode/uchar.h>

#include "text/clip_normalize.h"
#include "text/utf8.h"

namespace sdxlw {

namespace {

bool letter_or_number(UChar32 c) { return (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_N_MASK)) != 0; }

// IGNORECASE literal match with simple case folding, as the `regex` module does ("'ſ" matches "'s").
bool matches_literal(std::u32string_view text, size_t pos, std::u32string_view literal) {
  if (text.size() - pos < literal.size()) return false;
  for (size_t k = 0; k < literal.size(); ++k) {
    const auto c = static_cast<UChar32>(text[pos + k]);
    if (c != static_cast<UChar32>(literal[k]) && u_foldCase(c, U_FOLD_CASE_DEFAULT) != static_cast<UChar32>(literal[k])) {
      return false;
    }
  }
  return true;
}

}  // namespace

ClipCharClass clip_char_class(char32_t ch) {
  const auto c = static_cast<UChar32>(ch);
  const uint32_t mask = U_GET_GC_MASK(c);
  if (mask & U_GC_L_MASK) return ClipCharClass::Letter;
  if (mask & U_GC_N_MASK) return ClipCharClass::Number;
  if (is_regex_space(ch)) return ClipCharClass::Skip;
  // Under IGNORECASE a negated class also rejects a character whose case partner is in it.
  if (letter_or_number(u_foldCase(c, U_FOLD_CASE_DEFAULT)) || letter_or_number(u_toupper(c)) ||
      letter_or_number(u_tolower(c)) || letter_or_number(u_totitle(c))) {
    return ClipCharClass::Skip;
  }
  return ClipCharClass::Other;
}

std::vector<std::string> clip_pre_tokenize(std::string_view normalized) {
  static constexpr std::u32string_view kSpecials[] = {U"<|startoftext|>", U"<|endoftext|>"};
  static constexpr std::u32string_view kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};

  const std::u32string text = decode_utf8(normalized, "normalized text");
  std::vector<std::string> tokens;
  auto emit = [&](size_t begin, size_t end) { tokens.push_back(encode_utf8(std::u32string_view(text).substr(begin, end - begin))); };

  size_t i = 0;
  while (i < text.size()) {
    const char32_t c = text[i];
    size_t literal = 0;
    if (c == U'<') {
      for (auto lit : kSpecials) {
        if (matches_literal(text, i, lit)) {
          literal = lit.size();
          break;
        }
      }
    } else if (c == U'\'') {
      for (auto lit : kContractions) {
        if (matches_literal(text, i, lit)) {
          literal = lit.size();
          break;
        }
      }
    }
    if (literal) {
      emit(i, i + literal);
      i += literal;
      continue;
    }
    const ClipCharClass cls = clip_char_class(c);
    size_t j = i + 1;
    switch (cls) {
      case ClipCharClass::Skip:
        i = j;
        continue;
      case ClipCharClass::Number:
        break;
      case ClipCharClass::Letter:
      case ClipCharClass::Other:
        while (j < text.size() && clip_char_class(text[j]) == cls) ++j;
        break;
    }
    emit(i, j);
    i = j;
  }
  return tokens;
}

}  // namespace sdxlw
