// Tokenizing a prompt pair: chunking, the two pad ids, and equalising chunk counts with chunks
// of the empty string (tests/fixtures/README.md §2 steps 2 and 4).

#include "engine/text_conditioning.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "engine_test_util.h"

namespace sdxlw::engine {
namespace {

const ClipTokenizer& tokenizer() {
  static const ClipTokenizer t = ClipTokenizer::from_file(test::vocab_path());
  return t;
}

std::string words(int count) {
  std::string s;
  for (int i = 0; i < count; ++i) s += "cat ";
  return s;
}

TEST(PromptTokens, ShortPromptIsOneChunkPaddedPerEncoder) {
  const PromptTokens t = tokenize_prompts(tokenizer(), "a cat", "");
  ASSERT_EQ(t.te1.sizes(), at::IntArrayRef({1, 77}));
  EXPECT_TRUE(t.zero_negative());
  const int64_t cat_id = tokenizer().encode("cat")[0];
  EXPECT_EQ(t.te1[0][0].item<int64_t>(), ClipTokenizer::kBos);
  EXPECT_EQ(t.te1[0][2].item<int64_t>(), cat_id);
  EXPECT_EQ(t.te1[0][3].item<int64_t>(), ClipTokenizer::kEos);
  EXPECT_EQ(t.te1[0][76].item<int64_t>(), ClipTokenizer::kEos);  // TE1 pads with EOS
  EXPECT_EQ(t.te2[0][3].item<int64_t>(), ClipTokenizer::kEos);
  EXPECT_EQ(t.te2[0][76].item<int64_t>(), 0);  // TE2 pads with 0
}

TEST(PromptTokens, ShorterSideGetsEmptyStringChunks) {
  const PromptTokens t = tokenize_prompts(tokenizer(), "a cat", words(80));  // 1 vs 2 chunks
  ASSERT_EQ(t.chunks(), 2);
  ASSERT_EQ(t.neg_te1.size(0), 2);
  // The prompt's second chunk is the empty string: [BOS, EOS, pad...], encoded normally.
  EXPECT_EQ(t.te1[1][0].item<int64_t>(), ClipTokenizer::kBos);
  EXPECT_EQ(t.te1[1][1].item<int64_t>(), ClipTokenizer::kEos);
  EXPECT_EQ(t.te1[1][2].item<int64_t>(), ClipTokenizer::kEos);
  EXPECT_EQ(t.te2[1][1].item<int64_t>(), ClipTokenizer::kEos);
  EXPECT_EQ(t.te2[1][2].item<int64_t>(), 0);
  // The negative keeps its own tokens: 75 in the first chunk, 5 in the second.
  EXPECT_EQ(t.neg_te1[1][6].item<int64_t>(), ClipTokenizer::kEos);

  const PromptTokens swapped = tokenize_prompts(tokenizer(), words(80), "a cat");
  EXPECT_TRUE(at::equal(swapped.neg_te1, t.te1));
  EXPECT_TRUE(at::equal(swapped.te2, t.neg_te2));
}

TEST(PromptTokens, SeventyFiveTokensAreOneChunkAndSeventySixAreTwo) {
  EXPECT_EQ(tokenize_prompts(tokenizer(), words(75), "").chunks(), 1);
  EXPECT_EQ(tokenize_prompts(tokenizer(), words(76), "").chunks(), 2);
}

TEST(PromptTokens, MalformedUtf8NamesTheField) {
  try {
    tokenize_prompts(tokenizer(), "fine", "bad \xc3");
    FAIL() << "expected InvalidRequest";
  } catch (const InvalidRequest& e) {
    EXPECT_NE(std::string(e.what()).find("negative_prompt is not valid UTF-8"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sdxlw::engine
