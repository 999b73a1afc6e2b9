// Vocabulary loading, BPE known answers (from the Python reference tokenizer), special tokens,
// chunking and concurrent use.

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <random>
#include <thread>

#include "support/paths.h"
#include "text/clip_tokenizer.h"

namespace {

using sdxlw::ClipTokenizer;
using Ids = std::vector<int32_t>;

std::string vocab_path() { return (sdxlw::test::source_dir() / "assets/bpe_simple_vocab_16e6.txt.gz").string(); }

const ClipTokenizer& tokenizer() {
  static const ClipTokenizer t = ClipTokenizer::from_file(vocab_path());
  return t;
}

void write_gzip(const std::filesystem::path& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, content.data(), static_cast<unsigned>(content.size())), static_cast<int>(content.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The loader's error for `path`, or "" when it loads.
std::string load_error(const std::filesystem::path& path) {
  try {
    ClipTokenizer::from_file(path.string());
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// Header + `merges` valid merges ("a b" pairs that build from byte symbols).
std::string merge_text(int merges) {
  std::string text = "#version: 0.2\n";
  for (int i = 0; i < merges; ++i) text += "a b\n";
  return text;
}

TEST(ClipTokenizerVocab, LoadsTheShippedFileWithItsDocumentedLayout) {
  const ClipTokenizer& t = tokenizer();
  EXPECT_EQ(t.token_string(0), "!");
  EXPECT_EQ(t.token_string(187), "\u00ff");
  EXPECT_EQ(t.token_string(188), "\u0100");  // byte 0x00
  EXPECT_EQ(t.token_string(255), "\u0143");  // byte 0xAD
  EXPECT_EQ(t.token_string(256), "!</w>");
  EXPECT_EQ(t.token_string(511), "\u0143</w>");
  EXPECT_EQ(t.token_string(512), "in");
  EXPECT_EQ(t.token_string(49405), "jekyll</w>");
  EXPECT_EQ(t.token_string(ClipTokenizer::kBos), "<|startoftext|>");
  EXPECT_EQ(t.token_string(ClipTokenizer::kEos), "<|endoftext|>");
  EXPECT_THROW(t.token_string(ClipTokenizer::kVocabSize), std::out_of_range);
  EXPECT_THROW(t.token_string(-1), std::out_of_range);
}

TEST(ClipTokenizerVocab, MissingFileIsNamed) {
  sdxlw::test::TempDir dir;
  const std::string err = load_error(dir / "nope.txt.gz");
  EXPECT_NE(err.find((dir / "nope.txt.gz").string()), std::string::npos) << err;
  EXPECT_NE(err.find("not found"), std::string::npos) << err;
}

TEST(ClipTokenizerVocab, UncompressedFileIsRejected) {
  sdxlw::test::TempDir dir;
  std::ofstream(dir / "plain.txt") << merge_text(ClipTokenizer::kMerges);
  const std::string err = load_error(dir / "plain.txt");
  EXPECT_NE(err.find("plain.txt\" is not gzip-compressed"), std::string::npos) << err;
}

TEST(ClipTokenizerVocab, TruncatedGzipIsCorrupt) {
  sdxlw::test::TempDir dir;
  const std::string full = read_bytes(vocab_path());
  std::ofstream(dir / "cut.gz", std::ios::binary) << full.substr(0, full.size() / 2);
  const std::string err = load_error(dir / "cut.gz");
  EXPECT_NE(err.find("cut.gz\" is corrupt"), std::string::npos) << err;
}

TEST(ClipTokenizerVocab, DamagedGzipDataIsCorrupt) {
  sdxlw::test::TempDir dir;
  std::string bytes = read_bytes(vocab_path());
  for (size_t i = 100; i < 200; ++i) bytes[i] = static_cast<char>(~bytes[i]);
  std::ofstream(dir / "bad.gz", std::ios::binary) << bytes;
  const std::string err = load_error(dir / "bad.gz");
  EXPECT_NE(err.find("bad.gz\" is corrupt"), std::string::npos) << err;
}

TEST(ClipTokenizerVocab, TooFewMergeLinesAreCounted) {
  sdxlw::test::TempDir dir;
  write_gzip(dir / "short.gz", "#version: 0.2\ni n\nt h\n");
  EXPECT_NE(load_error(dir / "short.gz").find("has 2 merge lines, expected at least 48894"), std::string::npos)
      << load_error(dir / "short.gz");
}

TEST(ClipTokenizerVocab, MalformedLinesAreReportedByLineNumber) {
  sdxlw::test::TempDir dir;
  write_gzip(dir / "header.gz", "a b\n" + merge_text(ClipTokenizer::kMerges));
  EXPECT_NE(load_error(dir / "header.gz").find("line 1 is not the \"#version\" header"), std::string::npos);

  write_gzip(dir / "line.gz", "#version: 0.2\ni n\nthree parts here\n");
  EXPECT_NE(load_error(dir / "line.gz").find("line 3 is not a merge \"a b\""), std::string::npos)
      << load_error(dir / "line.gz");

  write_gzip(dir / "unknown.gz", "#version: 0.2\ni n\nin xyz\n");
  EXPECT_NE(load_error(dir / "unknown.gz").find("line 3 merges a symbol no earlier line defines"), std::string::npos)
      << load_error(dir / "unknown.gz");

}

TEST(ClipTokenizerVocab, DirectoryIsNotAVocabularyFile) {
  sdxlw::test::TempDir dir;
  EXPECT_NE(load_error(dir.path()).find("is not a regular file"), std::string::npos) << load_error(dir.path());
}

TEST(ClipTokenizerVocab, RepeatedMergeIsCorrupt) {
  sdxlw::test::TempDir dir;
  write_gzip(dir / "dup.gz", merge_text(2));
  EXPECT_NE(load_error(dir / "dup.gz").find("line 3 repeats an earlier merge"), std::string::npos)
      << load_error(dir / "dup.gz");
}

TEST(ClipTokenizerBpe, MergesLongWordsLikeTheReference) {
  const ClipTokenizer& t = tokenizer();
  EXPECT_EQ(t.encode("supercalifragilisticexpialidocious"), (Ids{1642, 2857, 13093, 2076, 5868, 26850, 835, 639, 38466}));
  EXPECT_EQ(t.encode("pneumonoultramicroscopicsilicovolcanoconiosis"),
            (Ids{28714, 749, 20253, 9800, 535, 532, 1065, 901, 1556, 13697, 9916, 78, 39031, 13903}));
  EXPECT_EQ(t.encode("hippopotomonstrosesquippedaliophobia"),
            (Ids{28398, 38848, 521, 3121, 567, 1653, 31706, 843, 835, 21111}));
  EXPECT_EQ(t.encode("aaaaaaa"), (Ids{6727, 9583}));
  EXPECT_EQ(t.encode("abababababababab"), (Ids{596, 596, 596, 596, 596, 596, 596, 3937}));
  Ids xs(49, 32035);
  xs.push_back(22819);
  EXPECT_EQ(t.encode(std::string(200, 'x')), xs);
}

TEST(ClipTokenizerBpe, UnmergeableBytesUseTheByteSymbols) {
  EXPECT_EQ(tokenizer().encode(std::string("\0", 1)), (Ids{444}));  // U+0100 + "</w>"
  EXPECT_EQ(tokenizer().encode("a\x1c" "b"), (Ids{320, 472, 321}));
}

TEST(ClipTokenizerBpe, RandomTenThousandLetterWordRoundTrips) {
  std::mt19937 rng(7);
  std::string word;
  for (int i = 0; i < 10000; ++i) word.push_back(static_cast<char>('a' + rng() % 26));
  std::string joined;
  for (int32_t id : tokenizer().encode(word)) joined += tokenizer().token_string(id);
  EXPECT_EQ(joined, word + "</w>");
}

TEST(ClipTokenizerEncode, SpecialTokenTextBecomesTheSpecialIds) {
  const ClipTokenizer& t = tokenizer();
  EXPECT_EQ(t.encode("a photo of a cat <|endoftext|> extra"), (Ids{320, 1125, 539, 320, 2368, 49407, 4231}));
  EXPECT_EQ(t.encode("<|STARTOFTEXT|>"), (Ids{ClipTokenizer::kBos}));
  EXPECT_EQ(t.encode("&lt;|endoftext|&gt;"), (Ids{ClipTokenizer::kEos}));
}

TEST(ClipTokenizerEncode, CopiesShareStateAndConcurrentCallsAgree) {
  const std::vector<std::string> prompts = {"a photo of a cat", "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e",
                                            "masterpiece, best quality, (detailed:1.2)", "\u65e5\u672c\u306e\u685c"};
  const ClipTokenizer copy = tokenizer();
  std::vector<Ids> expected;
  for (const auto& p : prompts) expected.push_back(copy.encode(p));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 200; ++rep) {
        for (size_t i = 0; i < prompts.size(); ++i) {
          if (tokenizer().encode(prompts[i] + " w" + std::to_string(rep % 50)) !=
              copy.encode(prompts[i] + " w" + std::to_string(rep % 50))) {
            ++mismatches[k];
          }
          if (copy.encode(prompts[i]) != expected[i]) ++mismatches[k];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(ClipTokenizerEncode, RejectsMalformedUtf8) { EXPECT_THROW(tokenizer().encode("bad \xff"), std::invalid_argument); }

std::vector<int32_t> iota_ids(int n) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = 1000 + i;
  return ids;
}

TEST(MakeChunks, EmptyPromptGivesOneChunkOfBosEosAndPadding) {
  const auto chunks = sdxlw::make_chunks({}, 0);
  ASSERT_EQ(chunks.size(), 1u);
  std::vector<int64_t> expected(77, 0);
  expected[0] = 49406;
  expected[1] = 49407;
  EXPECT_EQ(chunks[0], expected);
}

TEST(MakeChunks, CutsEvery75TokensAndPadsTheLastPiece) {
  EXPECT_EQ(sdxlw::make_chunks(iota_ids(75), 0).size(), 1u);
  EXPECT_EQ(sdxlw::make_chunks(iota_ids(150), 0).size(), 2u);
  const auto chunks = sdxlw::make_chunks(iota_ids(151), 49407);
  ASSERT_EQ(chunks.size(), 3u);
  for (const auto& c : chunks) {
    ASSERT_EQ(c.size(), 77u);
    EXPECT_EQ(c.front(), 49406);
  }
  EXPECT_EQ(chunks[1][1], 1075);
  EXPECT_EQ(chunks[1][75], 1149);
  EXPECT_EQ(chunks[1][76], 49407);
  EXPECT_EQ(chunks[2][1], 1150);
  EXPECT_EQ(chunks[2][2], 49407);
  EXPECT_EQ(chunks[2][76], 49407);
  const auto te2 = sdxlw::make_chunks(iota_ids(76), 0);
  ASSERT_EQ(te2.size(), 2u);
  EXPECT_EQ(te2[1][2], 49407);
  EXPECT_EQ(te2[1][3], 0);
}

}  // namespace
