#include "text/html_unescape.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "text/utf8.h"

namespace sdxlw {

namespace {

struct NamedReference {
  const char* name;   // e.g. "amp;" or the legacy "amp"
  const char* value;  // UTF-8, one or two code points
};

constexpr NamedReference kNamedReferences[] = {
#include "text/html_entities.inc"
};

const char* find_named(const std::string& name) {
  auto less = [](const NamedReference& e, const std::string& key) { return std::strcmp(e.name, key.c_str()) < 0; };
  const auto* end = std::end(kNamedReferences);
  const auto* it = std::lower_bound(std::begin(kNamedReferences), end, name, less);
  return it != end && name == it->name ? it->value : nullptr;
}

// The HTML5 "numeric character reference end state" table for C1 controls and NUL, as in
// Python's html._invalid_charrefs (Windows-1252 meanings for 0x80..0x9F).
char32_t replaced_charref(uint64_t num) {
  static constexpr char32_t kC1[32] = {
      0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
  if (num == 0x00) return 0xFFFD;
  if (num == 0x0D) return U'\r';
  if (num >= 0x80 && num <= 0x9F) return kC1[num - 0x80];
  return 0;
}

// Python's html._invalid_codepoints: references to these produce nothing.
bool dropped_codepoint(uint64_t num) {
  return (num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
         (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) ||
         (num <= 0x10FFFF && (num & 0xFFFE) == 0xFFFE);
}

int digit_value(char32_t c, bool hex) {
  if (c >= U'0' && c <= U'9') return static_cast<int>(c - U'0');
  if (hex && c >= U'a' && c <= U'f') return static_cast<int>(c - U'a' + 10);
  if (hex && c >= U'A' && c <= U'F') return static_cast<int>(c - U'A' + 10);
  return -1;
}

bool ends_named(char32_t c) {
  return c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' || c == U'&' || c == U'#' ||
         c == U';';
}

// Parses "#123;" / "#x1F;" at text[pos] (just after '&'); returns the characters consumed (0 when
// there are no digits) and appends the replacement.
size_t numeric_reference(std::u32string_view text, size_t pos, std::u32string& out) {
  size_t i = pos + 1;
  const bool hex = i < text.size() && (text[i] == U'x' || text[i] == U'X');
  if (hex) ++i;
  const size_t digits_start = i;
  constexpr uint64_t kTooLarge = 0x110000;
  uint64_t num = 0;
  for (int d; i < text.size() && (d = digit_value(text[i], hex)) >= 0; ++i) {
    num = std::min<uint64_t>(num * (hex ? 16 : 10) + static_cast<uint64_t>(d), kTooLarge);
  }
  if (i == digits_start) return 0;
  if (i < text.size() && text[i] == U';') ++i;
  if (char32_t r = replaced_charref(num)) {
    out.push_back(r);
  } else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    out.push_back(0xFFFD);
  } else if (!dropped_codepoint(num)) {
    out.push_back(static_cast<char32_t>(num));
  }
  return i - pos;
}

// Parses up to 32 name characters and an optional ';' at text[pos] (just after '&'); returns the
// characters consumed (0 when there is no name character) and appends the replacement, which is
// the text itself when no entity (or entity prefix) matches.
size_t named_reference(std::u32string_view text, size_t pos, std::u32string& out) {
  constexpr size_t kMaxName = 32;
  size_t i = pos;
  while (i < text.size() && i - pos < kMaxName && !ends_named(text[i])) ++i;
  if (i == pos) return 0;
  if (i < text.size() && text[i] == U';') ++i;
  const std::u32string_view ref = text.substr(pos, i - pos);

  // Names are ASCII, so only the ASCII head of `ref` can match.
  size_t ascii = 0;
  while (ascii < ref.size() && ref[ascii] < 0x80) ++ascii;
  std::string key;
  for (size_t k = 0; k < ascii; ++k) key.push_back(static_cast<char>(ref[k]));

  auto emit = [&](const char* value, size_t used) {
    out += decode_utf8(value, "HTML entity table");
    out.append(ref.substr(used));
  };
  if (ascii == ref.size()) {
    if (const char* v = find_named(key)) {
      emit(v, ref.size());
      return ref.size();
    }
  }
  // The longest prefix of at least two characters that is an entity name (only the legacy
  // names without ';' can match here).
  for (size_t len = std::min(ascii, ref.size() - 1); len >= 2; --len) {
    key.resize(len);
    if (const char* v = find_named(key)) {
      emit(v, len);
      return ref.size();
    }
  }
  out.push_back(U'&');
  out.append(ref);
  return ref.size();
}

}  // namespace

std::u32string html_unescape(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != U'&') {
      out.push_back(text[i++]);
      continue;
    }
    size_t used = 0;
    if (i + 1 < text.size()) {
      used = text[i + 1] == U'#' ? numeric_reference(text, i + 1, out) : named_reference(text, i + 1, out);
    }
    if (used == 0) out.push_back(U'&');
    i += 1 + used;
  }
  return out;
}

std::string html_unescape(std::string_view utf8) {
  if (utf8.find('&') == std::string_view::npos) return std::string(utf8);
  return encode_utf8(html_unescape(decode_utf8(utf8)));
}

}  // namespace sdxlw
