#include "text/clip_normalize.h"

#include <stdexcept>

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "text/html_unescape.h"
#include "text/utf8.h"

namespace sdxlw {

namespace {

icu::UnicodeString to_icu(std::u32string_view text) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(text.data()),
                                       static_cast<int32_t>(text.size()));
}

std::u32string from_icu(const icu::UnicodeString& s) {
  std::u32string out;
  out.reserve(static_cast<size_t>(s.length()));
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) out.push_back(static_cast<char32_t>(s.char32At(i)));
  return out;
}

std::u32string nfc(std::u32string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) throw std::runtime_error(std::string("tokenizer: ICU NFC data unavailable: ") + u_errorName(status));
  icu::UnicodeString out = normalizer->normalize(to_icu(text), status);
  if (U_FAILURE(status)) throw std::runtime_error(std::string("tokenizer: NFC normalization failed: ") + u_errorName(status));
  return from_icu(out);
}

std::u32string_view strip(std::u32string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_python_space(s[b])) ++b;
  while (e > b && is_python_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::u32string collapse_whitespace(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (!is_regex_space(s[i])) {
      out.push_back(s[i++]);
      continue;
    }
    out.push_back(U' ');
    while (i < s.size() && is_regex_space(s[i])) ++i;
  }
  return out;
}

}  // namespace

bool is_python_space(char32_t c) {
  const auto cp = static_cast<UChar32>(c);
  if (u_charType(cp) == U_SPACE_SEPARATOR) return true;
  const UCharDirection dir = u_charDirection(cp);
  return dir == U_WHITE_SPACE_NEUTRAL || dir == U_BLOCK_SEPARATOR || dir == U_SEGMENT_SEPARATOR;
}

bool is_regex_space(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)); }

std::u32string python_lower(std::u32string_view text) {
  icu::UnicodeString s = to_icu(text);
  s.toLower(icu::Locale::getRoot());
  return from_icu(s);
}

std::string clip_normalize(std::string_view text) {
  std::u32string s = nfc(decode_utf8(text, "prompt"));
  s = html_unescape(html_unescape(s));
  s = collapse_whitespace(strip(s));
  return encode_utf8(python_lower(strip(s)));
}

}  // namespace sdxlw
