// Known answers from Python 3.11 html.unescape.

#include <gtest/gtest.h>

#include <string>

#include "text/html_unescape.h"

namespace {

using sdxlw::html_unescape;

std::string once(const std::string& s) { return html_unescape(std::string_view(s)); }
std::string twice(const std::string& s) { return once(once(s)); }

TEST(HtmlUnescape, DecodesDecimalAndHexReferencesWithOrWithoutSemicolon) {
  EXPECT_EQ(once("&#65;&#x42;&#X43;"), "ABC");
  EXPECT_EQ(once("&#65"), "A");
  EXPECT_EQ(once("x&#x1F600;y"), "x\U0001F600y");
  EXPECT_EQ(once("&#39;single&#39;"), "'single'");
}

TEST(HtmlUnescape, AppliesHtml5ReplacementsForInvalidNumericReferences) {
  EXPECT_EQ(once("&#0;"), "\uFFFD");
  EXPECT_EQ(once("&#128;&#x9F;"), "\u20AC\u0178");  // Windows-1252 meanings
  EXPECT_EQ(once("&#129;"), "\u0081");              // unmapped C1 stays
  EXPECT_EQ(once("&#13;"), "\r");
  EXPECT_EQ(once("&#xD800;"), "\uFFFD");
  EXPECT_EQ(once("&#1114112;"), "\uFFFD");
  EXPECT_EQ(once("&#99999999999999999999;"), "\uFFFD");  // no overflow
  EXPECT_EQ(once("&#1;&#11;&#xFFFE;&#x10FFFF;&#xFDD0;"), "");
}

TEST(HtmlUnescape, LeavesIncompleteReferencesAlone) {
  EXPECT_EQ(once("&#;&#x;&#xg;"), "&#;&#x;&#xg;");
  EXPECT_EQ(once("&unknown;"), "&unknown;");
  EXPECT_EQ(once("&am"), "&am");
  EXPECT_EQ(once("& amp;"), "& amp;");
  EXPECT_EQ(once("a&b"), "a&b");
  EXPECT_EQ(once("&"), "&");
  EXPECT_EQ(once("&\u00e9acute;"), "&\u00e9acute;");
  // A name longer than 32 characters is not a reference.
  const std::string long_name = "&" + std::string(40, 'a') + ";";
  EXPECT_EQ(once(long_name), long_name);
}

TEST(HtmlUnescape, AcceptsLegacyNamesWithoutSemicolonAsLongestPrefix) {
  EXPECT_EQ(once("&copy 2024"), "\u00a9 2024");
  EXPECT_EQ(once("&lt&gt"), "<>");
  EXPECT_EQ(once("&frac12;&frac12"), "\u00bd\u00bd");
  EXPECT_EQ(once("&ampxyz"), "&xyz");
  EXPECT_EQ(once("&notit;"), "\u00acit;");
  EXPECT_EQ(once("&notin;"), "\u2209");
  EXPECT_EQ(once("&Aacute\u00e9"), "\u00c1\u00e9");
  EXPECT_EQ(once("&amp\r;"), "&\r;");
}

TEST(HtmlUnescape, DecodesNamedReferencesIncludingTwoCodePointValues) {
  EXPECT_EQ(once("&lt;tag&gt; &quot;q&quot; &copy;"), "<tag> \"q\" \u00a9");
  EXPECT_EQ(once("&NotEqualTilde;"), "\u2242\u0338");
  EXPECT_EQ(once("&&amp;"), "&&");
}

TEST(HtmlUnescape, OnePassDoesNotRescanItsOutputButTwoPassesUndoDoubleEscaping) {
  EXPECT_EQ(once("&amp;amp;"), "&amp;");
  EXPECT_EQ(twice("&amp;amp;"), "&");
  EXPECT_EQ(once("&amp;#39;"), "&#39;");
  EXPECT_EQ(twice("&amp;#39;"), "'");
  EXPECT_EQ(twice("&amp;amp;amp;"), "&amp;");
  EXPECT_EQ(once("&amp;&#59;"), "&;");
}

TEST(HtmlUnescape, RejectsMalformedUtf8) { EXPECT_THROW(once("&amp;\xff"), std::invalid_argument); }

}  // namespace
