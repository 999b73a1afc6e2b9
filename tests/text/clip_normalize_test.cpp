// Known answers from Python 3.11 (unicodedata, html, str.strip/str.lower, regex module `\s`).

#include <gtest/gtest.h>

#include <set>

#include "text/clip_normalize.h"
#include "text/utf8.h"

namespace {

using sdxlw::clip_normalize;

std::set<char32_t> all_matching(bool (*pred)(char32_t)) {
  std::set<char32_t> out;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if ((c < 0xD800 || c > 0xDFFF) && pred(c)) out.insert(c);
  }
  return out;
}

const std::set<char32_t> kUnicodeWhiteSpace = {
    0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x20,   0x85,   0xA0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
    0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};

TEST(ClipNormalize, RegexWhitespaceIsExactlyTheUnicodeWhiteSpaceProperty) {
  EXPECT_EQ(all_matching(sdxlw::is_regex_space), kUnicodeWhiteSpace);
}

TEST(ClipNormalize, PythonIsspaceAddsTheInformationSeparators) {
  std::set<char32_t> expected = kUnicodeWhiteSpace;
  expected.insert({0x1C, 0x1D, 0x1E, 0x1F});
  EXPECT_EQ(all_matching(sdxlw::is_python_space), expected);
}

TEST(ClipNormalize, CollapsesEveryWhiteSpaceRunToOneSpace) {
  EXPECT_EQ(clip_normalize("a\u0085b\u2028c\u3000\u00a0 d\t\n\x0b\x0c\re"), "a b c d e");
  EXPECT_EQ(clip_normalize("a\u200bb"), "a\u200bb");  // zero-width space is not white space
}

TEST(ClipNormalize, StripUsesIsspaceButCollapseDoesNot) {
  // str.strip() removes U+001C..U+001F at the ends; regex `\s+` keeps them inside.
  EXPECT_EQ(clip_normalize("\x1c a \x1f"), "a");
  EXPECT_EQ(clip_normalize("a\x1c b"), "a\x1c b");
}

TEST(ClipNormalize, LowerCasesLikePythonIncludingFinalSigma) {
  EXPECT_EQ(clip_normalize("\u0391\u03a3"), "\u03b1\u03c2");
  EXPECT_EQ(clip_normalize("\u039f\u0394\u039f\u03a3 \u039f\u0394\u039f\u03a3."),
            "\u03bf\u03b4\u03bf\u03c2 \u03bf\u03b4\u03bf\u03c2.");
  EXPECT_EQ(clip_normalize("\u03a3"), "\u03c3");
  EXPECT_EQ(clip_normalize("a\u03a3b"), "a\u03c3b");
  EXPECT_EQ(clip_normalize("\u03a3\u0391\u03a3"), "\u03c3\u03b1\u03c2");
  EXPECT_EQ(clip_normalize("\u0391\u03a3\u0301"), "\u03b1\u03c2\u0301");  // a case-ignorable mark after
  EXPECT_EQ(clip_normalize("\u0130stanbul"), "i\u0307stanbul");           // full mapping, two code points
  EXPECT_EQ(clip_normalize("\u00df \u01c5"), "\u00df \u01c6");
}

TEST(ClipNormalize, AppliesNfcBeforeUnescapingSoEscapedMarksStayDecomposed) {
  EXPECT_EQ(clip_normalize("cafe\u0301"), "caf\u00e9");
  EXPECT_EQ(clip_normalize("cafe&#769;"), "cafe\u0301");
}

TEST(ClipNormalize, UnescapesTwiceThenStripsAndCollapses) {
  EXPECT_EQ(clip_normalize("&nbsp; Tom &amp;amp; Jerry &#32;"), "tom & jerry");
  EXPECT_EQ(clip_normalize("&lt;|endoftext|&gt;"), "<|endoftext|>");
}

TEST(ClipNormalize, KeepsCompatibilityFormsAsTheyAre) {
  EXPECT_EQ(clip_normalize("\ufb01ne \uff21 \u2019"), "\ufb01ne \uff41 \u2019");
}

TEST(ClipNormalize, EmptyAndWhitespaceOnlyGiveEmpty) {
  EXPECT_EQ(clip_normalize(""), "");
  EXPECT_EQ(clip_normalize(" \t\n\u3000 "), "");
}

TEST(ClipNormalize, RejectsMalformedUtf8NamingTheOffset) {
  try {
    clip_normalize("ok\xc3");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "prompt is not valid UTF-8: truncated sequence at byte 2");
  }
  EXPECT_THROW(clip_normalize("\xc0\xaf"), std::invalid_argument);          // overlong '/'
  EXPECT_THROW(clip_normalize("\xed\xa0\x80"), std::invalid_argument);      // surrogate
  EXPECT_THROW(clip_normalize("\xf4\x90\x80\x80"), std::invalid_argument);  // > U+10FFFF
  EXPECT_THROW(clip_normalize("\x80"), std::invalid_argument);
}

TEST(ClipNormalize, KeepsEmbeddedNul) {
  EXPECT_EQ(clip_normalize(std::string("a\0B", 3)), std::string("a\0b", 3));
}

}  // namespace
