#include "net/url.h"

#include <gtest/gtest.h>

namespace sdxlw {
namespace {

TEST(Url, ParsesSchemeHostPortPathAndQuery) {
  auto u = parse_url("https://CivitAI.com/api/download/models/1590699?type=Model&format=SafeTensor");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "civitai.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/api/download/models/1590699");
  EXPECT_EQ(u->query, "type=Model&format=SafeTensor");
  EXPECT_EQ(u->authority(), "civitai.com:443");
}

TEST(Url, ExplicitAndDefaultPorts) {
  EXPECT_EQ(parse_url("http://127.0.0.1:8080/x")->port, 8080);
  EXPECT_EQ(parse_url("http://example.com")->port, 80);
  EXPECT_EQ(parse_url("http://example.com")->path, "/");
  EXPECT_EQ(parse_url("http://[::1]:9000/a")->host, "[::1]");
}

TEST(Url, RejectsWhatIsNotAnAbsoluteHttpUrl) {
  EXPECT_FALSE(parse_url("civitai.com/api/download/models/1"));
  EXPECT_FALSE(parse_url("/api/download/models/1"));
  EXPECT_FALSE(parse_url("ftp://example.com/a"));
  EXPECT_FALSE(parse_url("file:///etc/passwd"));
  EXPECT_FALSE(parse_url(""));
  EXPECT_FALSE(parse_url("https://"));
}

TEST(Url, ResolvesRedirectLocations) {
  const std::string base = "https://civitai.com/api/download/models/7?token=x";
  EXPECT_EQ(resolve_url(base, "https://b2.example.net/file.bin?sig=1")->text, "https://b2.example.net/file.bin?sig=1");
  EXPECT_EQ(resolve_url(base, "//cdn.example.net/f")->text, "https://cdn.example.net/f");
  EXPECT_EQ(resolve_url(base, "/files/7")->text, "https://civitai.com/files/7");
  EXPECT_EQ(resolve_url(base, "other")->text, "https://civitai.com/api/download/models/other");
  EXPECT_FALSE(resolve_url(base, "ftp://example.com/x"));
}

TEST(Url, RedactsCredentialsInTheQuery) {
  EXPECT_EQ(redact_url("https://civitai.com/api/download/models/7?type=Model&token=abc123"),
            "https://civitai.com/api/download/models/7?type=Model&token=***");
  EXPECT_EQ(redact_url("https://s3.example/f?X-Amz-Credential=AK&X-Amz-Signature=ff&x=1#frag"),
            "https://s3.example/f?X-Amz-Credential=***&X-Amz-Signature=***&x=1#frag");
  EXPECT_EQ(redact_url("https://civitai.com/api/download/models/7"), "https://civitai.com/api/download/models/7");
}

}  // namespace
}  // namespace sdxlw
