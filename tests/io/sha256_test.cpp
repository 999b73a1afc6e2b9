#include "io/sha256.h"

#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "io/file_util.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

// FIPS 180-2 / NIST example messages.
const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const char* kTwoBlocks = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
const char* kMillionA = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

TEST(Sha256, MatchesTheKnownAnswers) {
  EXPECT_EQ(sha256_hex(""), kEmpty);
  EXPECT_EQ(sha256_hex("abc"), kAbc);
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), kTwoBlocks);
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), kMillionA);
}

TEST(Sha256, StreamingInPiecesEqualsOneShotAndDigestDoesNotEndTheStream) {
  Sha256 h;
  EXPECT_EQ(h.hex_digest(), kEmpty);
  h.update("a", 1);
  h.update(std::string_view("b"));
  EXPECT_EQ(h.hex_digest(), sha256_hex("ab"));
  h.update("c", 1);
  EXPECT_EQ(h.hex_digest(), kAbc);
  EXPECT_EQ(h.hex_digest(), kAbc);

  Sha256 chunks;
  const std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) chunks.update(a.data(), a.size());
  Sha256 moved = std::move(chunks);
  EXPECT_EQ(moved.hex_digest(), kMillionA);
}

TEST(Sha256, HashesFilesAcrossBlockBoundaries) {
  test::TempDir dir;
  const std::string path = (dir / "a.bin").string();
  write_file(path, std::string(1000000, 'a'));
  EXPECT_EQ(sha256_file_hex(path), kMillionA);

  std::string big(9 * 1024 * 1024 + 17, '\0');  // over two 4 MiB read blocks
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + (i >> 12));
  write_file(path, big);
  EXPECT_EQ(sha256_file_hex(path), sha256_hex(big));

  write_file(path, "");
  EXPECT_EQ(sha256_file_hex(path), kEmpty);
}

TEST(Sha256, HashesTheLoraFixture) {
  EXPECT_EQ(sha256_file_hex(test::fixture("lora_a.safetensors").string()),
            "e8ac88882ac3f724cd088f7d041f76260b07ba575a2e9b1aa94e47d7cd5dfd5b");
}

TEST(Sha256, FileErrorsNameThePath) {
  test::TempDir dir;
  const std::string missing = (dir / "nope.safetensors").string();
  try {
    sha256_file_hex(missing);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
  try {
    sha256_file_hex(dir.path().string());
    FAIL() << "hashed a directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Is a directory"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sdxlw
