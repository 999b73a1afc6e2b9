// Known answers from Python's `regex` module findall with the CLIP pattern and IGNORECASE.

#include <gtest/gtest.h>

#include "text/clip_pre_tokenizer.h"

namespace {

using sdxlw::clip_pre_tokenize;
using Tokens = std::vector<std::string>;

TEST(ClipPreTokenizer, SplitsLettersRunsDigitsOneByOneAndOtherRuns) {
  EXPECT_EQ(clip_pre_tokenize("a1b22 ...x!?"), (Tokens{"a", "1", "b", "2", "2", "...", "x", "!?"}));
  EXPECT_EQ(clip_pre_tokenize("\u65e5\u672c\u306e \u0661\u0662"), (Tokens{"\u65e5\u672c\u306e", "\u0661", "\u0662"}));
}

TEST(ClipPreTokenizer, MatchesContractionsCaseInsensitivelyIncludingLongS) {
  EXPECT_EQ(clip_pre_tokenize("it's 'S 'RE"), (Tokens{"it", "'s", "'S", "'RE"}));
  EXPECT_EQ(clip_pre_tokenize("'\u017f"), (Tokens{"'\u017f"}));  // U+017F folds to 's'
  EXPECT_EQ(clip_pre_tokenize("'x"), (Tokens{"'", "x"}));
}

TEST(ClipPreTokenizer, OtherRunsSwallowApostrophesThatStartNoContraction) {
  EXPECT_EQ(clip_pre_tokenize("!!'s"), (Tokens{"!!'", "s"}));
  EXPECT_EQ(clip_pre_tokenize("90's"), (Tokens{"9", "0", "'s"}));
}

TEST(ClipPreTokenizer, KeepsSpecialTokensWholeCaseInsensitively) {
  EXPECT_EQ(clip_pre_tokenize("a<|endoftext|>b"), (Tokens{"a", "<|endoftext|>", "b"}));
  EXPECT_EQ(clip_pre_tokenize("<|STARTOFTEXT|>x"), (Tokens{"<|STARTOFTEXT|>", "x"}));
  EXPECT_EQ(clip_pre_tokenize("<|end"), (Tokens{"<|", "end"}));
}

TEST(ClipPreTokenizer, DropsWhiteSpaceAndTheMarkWhoseCasePartnerIsALetter) {
  // U+0345 (Mn) upper-cases to U+0399, so IGNORECASE keeps it out of [^\s\p{L}\p{N}].
  EXPECT_EQ(clip_pre_tokenize("x \u0345 y"), (Tokens{"x", "y"}));
  EXPECT_EQ(clip_pre_tokenize("ab\u0345c"), (Tokens{"ab", "c"}));
  EXPECT_EQ(clip_pre_tokenize("a\u3000b\u0085c"), (Tokens{"a", "b", "c"}));
  EXPECT_EQ(sdxlw::clip_char_class(U'\u0345'), sdxlw::ClipCharClass::Skip);
}

TEST(ClipPreTokenizer, InformationSeparatorsAreNotWhiteSpace) {
  EXPECT_EQ(clip_pre_tokenize("a\x1c\x1f!b"), (Tokens{"a", "\x1c\x1f!", "b"}));
}

TEST(ClipPreTokenizer, CombiningMarksAndEmojiFormOtherRuns) {
  EXPECT_EQ(clip_pre_tokenize("e\u0301"), (Tokens{"e", "\u0301"}));
  EXPECT_EQ(clip_pre_tokenize("\U0001F468\u200D\U0001F469 x"), (Tokens{"\U0001F468\u200D\U0001F469", "x"}));
}

TEST(ClipPreTokenizer, EmptyInputGivesNoTokens) { EXPECT_TRUE(clip_pre_tokenize("").empty()); }

}  // namespace
