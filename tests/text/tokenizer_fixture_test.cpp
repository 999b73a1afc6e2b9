// Every case of tests/fixtures/tokenizer_cases.json (expected outputs of the reference CLIP
// tokenizer): normalized text, pre-tokens, ids, vocabulary strings and both encoders' chunks.

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/paths.h"
#include "text/clip_tokenizer.h"

namespace {

using sdxlw::ClipTokenizer;
using nlohmann::json;

const json& fixture_file() {
  static const json j = [] {
    std::ifstream in(sdxlw::test::fixture("tokenizer_cases.json"));
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
  }();
  return j;
}

const json& cases() {
  static const json empty = json::array();
  const json& f = fixture_file();
  return f.is_object() && f.contains("cases") && f["cases"].is_array() ? f["cases"] : empty;
}

std::vector<size_t> case_indices() {
  std::vector<size_t> out(cases().size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = i;
  return out;
}

const ClipTokenizer& tokenizer() {
  static const ClipTokenizer t =
      ClipTokenizer::from_file((sdxlw::test::source_dir() / "assets/bpe_simple_vocab_16e6.txt.gz").string());
  return t;
}

class TokenizerCase : public ::testing::TestWithParam<size_t> {};

TEST_P(TokenizerCase, MatchesReferenceTokenizer) {
  const json& c = cases()[GetParam()];
  const std::string prompt = c.at("prompt");

  const std::string normalized = ClipTokenizer::normalize(prompt);
  EXPECT_EQ(normalized, c.at("normalized").get<std::string>());
  EXPECT_EQ(ClipTokenizer::pre_tokenize(normalized), c.at("pre_tokens").get<std::vector<std::string>>());

  const std::vector<int32_t> ids = tokenizer().encode(prompt);
  ASSERT_EQ(ids, c.at("ids").get<std::vector<int32_t>>());
  EXPECT_EQ(ids.size(), c.at("n_tokens").get<size_t>());

  std::vector<std::string> strings;
  for (int32_t id : ids) strings.push_back(tokenizer().token_string(id));
  EXPECT_EQ(strings, c.at("bpe_tokens").get<std::vector<std::string>>());

  const auto te1 = sdxlw::make_chunks(ids, 49407);
  const auto te2 = sdxlw::make_chunks(ids, 0);
  EXPECT_EQ(te1, c.at("te1").get<std::vector<std::vector<int64_t>>>());
  EXPECT_EQ(te2, c.at("te2").get<std::vector<std::vector<int64_t>>>());
  EXPECT_EQ(te1.size(), c.at("n_chunks").get<size_t>());
}

std::string case_name(const ::testing::TestParamInfo<size_t>& info) {
  std::string name = cases()[info.param].value("name", "case");
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return std::to_string(info.param) + "_" + name;
}

INSTANTIATE_TEST_SUITE_P(Fixture, TokenizerCase, ::testing::ValuesIn(case_indices()), case_name);

TEST(TokenizerFixtureFile, HasAll51CasesAndTheConstantsTheTokenizerUses) {
  const json& f = fixture_file();
  ASSERT_TRUE(f.is_object()) << "cannot read " << sdxlw::test::fixture("tokenizer_cases.json");
  EXPECT_EQ(cases().size(), 51u);
  EXPECT_EQ(f.at("bos").get<int32_t>(), ClipTokenizer::kBos);
  EXPECT_EQ(f.at("eos").get<int32_t>(), ClipTokenizer::kEos);
  EXPECT_EQ(f.at("pad_te1").get<int32_t>(), 49407);
  EXPECT_EQ(f.at("pad_te2").get<int32_t>(), 0);
  EXPECT_EQ(f.at("chunk_tokens").get<int>(), ClipTokenizer::kChunkTokens);
  EXPECT_EQ(f.at("context_length").get<int>(), ClipTokenizer::kContextLength);
}

}  // namespace
