#include "io/base64.h"

#include <random>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace sdxlw {
namespace {

::testing::AssertionResult DecodeFails(const std::string& text, const std::string& part) {
  try {
    base64_decode(text);
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find(part) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks \"" << part << "\": " << e.what();
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "\"" << text << "\" decoded without error";
}

TEST(Base64, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesTheRfc4648Vectors) {
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v"), "foo");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYmFy"), "foobar");
}

TEST(Base64, UsesTheStandardAlphabetForHighValues) {
  EXPECT_EQ(base64_encode(std::string("\xfb\xff", 2)), "+/8=");
  EXPECT_EQ(base64_decode("+/8="), std::string("\xfb\xff", 2));
  EXPECT_EQ(base64_encode(std::string("\0\0\0", 3)), "AAAA");
}

TEST(Base64, RoundTripsEveryLengthAndByteValue) {
  std::mt19937 rng(1234);
  for (size_t len = 0; len < 300; ++len) {
    std::string bytes(len, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng() & 0xff);
    const std::string text = base64_encode(bytes);
    ASSERT_EQ(text.size(), (len + 2) / 3 * 4);
    ASSERT_EQ(base64_decode(text), bytes) << len;
  }
  std::string all(256, '\0');
  for (int i = 0; i < 256; ++i) all[i] = static_cast<char>(i);
  EXPECT_EQ(base64_decode(base64_encode(all)), all);
  const std::string big(3 * 1024 * 1024 + 1, '\x7f');  // a multi-MB PNG's worth
  EXPECT_EQ(base64_decode(base64_encode(big)), big);
}

TEST(Base64, RejectsALengthThatIsNotAMultipleOfFour) {
  EXPECT_TRUE(DecodeFails("Zg=", "length 3 is not a multiple of 4"));
  EXPECT_TRUE(DecodeFails("Zm9vY", "length 5 is not a multiple of 4"));
}

TEST(Base64, RejectsCharactersOutsideTheAlphabetNamingThePosition) {
  EXPECT_TRUE(DecodeFails("Zm-v", "unexpected '-' at position 2"));  // URL-safe alphabet
  EXPECT_TRUE(DecodeFails("Zm9vYm_y", "unexpected '_' at position 6"));
  EXPECT_TRUE(DecodeFails("Zm9\n", "unexpected byte 0x0a at position 3"));
  EXPECT_TRUE(DecodeFails("Zm9 ", "unexpected byte 0x20 at position 3"));
  EXPECT_TRUE(DecodeFails(std::string("Zm\xc3\xa9", 4), "unexpected byte 0xc3 at position 2"));
}

TEST(Base64, RejectsMisplacedPadding) {
  EXPECT_TRUE(DecodeFails("Zg==Zm9v", "unexpected '=' at position 2"));
  EXPECT_TRUE(DecodeFails("Zm9vYg=a", "unexpected '=' at position 6"));
  EXPECT_TRUE(DecodeFails("====", "unexpected '=' at position 0"));
  EXPECT_TRUE(DecodeFails("Z===", "unexpected '=' at position 1"));
}

TEST(Base64, RejectsNonZeroBitsHiddenByThePadding) {
  EXPECT_TRUE(DecodeFails("Zh==", "the character at position 1 sets bits"));
  EXPECT_TRUE(DecodeFails("Zm9=", "the character at position 2 sets bits"));
}

}  // namespace
}  // namespace sdxlw
