#include "store/civitai.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace sdxlw {
namespace {

Url url(const std::string& text) {
  auto u = parse_url(text);
  if (!u) throw std::runtime_error("bad test url " + text);
  return *u;
}

TEST(CivitaiHosts, DefaultToCivitaiCom) {
  EXPECT_EQ(parse_civitai_hosts(""), std::vector<std::string>{"civitai.com"});
  EXPECT_EQ(parse_civitai_hosts(" , "), std::vector<std::string>{"civitai.com"});
}

TEST(CivitaiHosts, AreTrimmedAndLowerCased) {
  EXPECT_EQ(parse_civitai_hosts(" CivitAI.com , 127.0.0.1:8080,[::1]:9000"),
            (std::vector<std::string>{"civitai.com", "127.0.0.1:8080", "[::1]:9000"}));
}

TEST(CivitaiHosts, MalformedEntryIsNamed) {
  for (const char* bad : {"https://civitai.com", "civitai.com:", "civitai.com:99999", "civitai.com:8x", "a/b"}) {
    try {
      parse_civitai_hosts(std::string("civitai.com,") + bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("CIVITAI_HOSTS entry"), std::string::npos) << e.what();
    }
  }
}

TEST(CivitaiHosts, EntryWithoutPortMatchesTheHostOnAnyPort) {
  const std::vector<std::string> hosts = {"civitai.com"};
  EXPECT_TRUE(host_receives_key(url("https://civitai.com/api/download/models/1"), hosts));
  EXPECT_TRUE(host_receives_key(url("https://CIVITAI.COM:8443/x"), hosts));
  EXPECT_FALSE(host_receives_key(url("https://www.civitai.com/x"), hosts));
  EXPECT_FALSE(host_receives_key(url("https://civitai.com.evil.example/x"), hosts));
  EXPECT_FALSE(host_receives_key(url("https://b2.civitai-delivery.com/file?sig=1"), hosts));
}

TEST(CivitaiHosts, EntryWithPortMatchesOnlyThatPort) {
  const std::vector<std::string> hosts = {"127.0.0.1:8080"};
  EXPECT_TRUE(host_receives_key(url("http://127.0.0.1:8080/a"), hosts));
  EXPECT_FALSE(host_receives_key(url("http://127.0.0.1:8081/a"), hosts));
  EXPECT_FALSE(host_receives_key(url("http://127.0.0.1/a"), hosts));
  EXPECT_TRUE(host_receives_key(url("https://civitai.com/a"), {"civitai.com:443"}));
  EXPECT_FALSE(host_receives_key(url("http://civitai.com/a"), {"civitai.com:443"}));
}

TEST(CivitaiUrl, ModelVersionIsReadFromTheDownloadForm) {
  EXPECT_EQ(civitai_model_version(url("https://civitai.com/api/download/models/1590699")), "1590699");
  EXPECT_EQ(civitai_model_version(url("https://civitai.com/api/download/models/135867?type=Model&format=SafeTensor")),
            "135867");
  EXPECT_EQ(civitai_model_version(url("https://civitai.com/api/download/models/12/")), "12");
  EXPECT_FALSE(civitai_model_version(url("https://civitai.com/api/download/models/abc")));
  EXPECT_FALSE(civitai_model_version(url("https://civitai.com/models/1590699")));
  EXPECT_FALSE(civitai_model_version(url("https://huggingface.co/x/resolve/main/y.safetensors")));
}

TEST(CivitaiUrl, VersionApiIsOnTheDownloadUrlsOwnHost) {
  EXPECT_EQ(civitai_version_api_url(url("https://civitai.com/api/download/models/7?type=Model"), "7"),
            "https://civitai.com/api/v1/model-versions/7");
  EXPECT_EQ(civitai_version_api_url(url("http://127.0.0.1:4567/api/download/models/7"), "7"),
            "http://127.0.0.1:4567/api/v1/model-versions/7");
}

const char* const kVersion = R"({
  "id": 7, "files": [
    {"name": "vae.safetensors", "type": "VAE", "primary": false,
     "metadata": {"format": "SafeTensor"}, "hashes": {"SHA256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
    {"name": "model_fp16.safetensors", "type": "Model", "primary": true,
     "metadata": {"format": "SafeTensor", "size": "pruned", "fp": "fp16"},
     "hashes": {"SHA256": "57F84D4D97F548724E47078E676D53F998EF325B1317D5924E87BBC510FC005B"}},
    {"name": "model_fp32.safetensors", "type": "Model", "primary": false,
     "metadata": {"format": "SafeTensor", "size": "full", "fp": "fp32"},
     "hashes": {"SHA256": "E8AC88882AC3F724CD088F7D041F76260B07BA575A2E9B1AA94E47D7CD5DFD5B"}}]})";

TEST(CivitaiVersion, PrimaryFileHashIsLowerCased) {
  const VersionHash h = sha256_from_model_version(kVersion, url("https://civitai.com/api/download/models/7"));
  EXPECT_EQ(h.error, "");
  EXPECT_EQ(h.file, "model_fp16.safetensors");
  EXPECT_EQ(h.sha256, "57f84d4d97f548724e47078e676d53f998ef325b1317d5924e87bbc510fc005b");
}

TEST(CivitaiVersion, QueryParametersSelectTheFile) {
  const VersionHash full =
      sha256_from_model_version(kVersion, url("https://civitai.com/api/download/models/7?size=full&fp=fp32"));
  EXPECT_EQ(full.file, "model_fp32.safetensors");
  EXPECT_EQ(full.sha256, "e8ac88882ac3f724cd088f7d041f76260b07ba575a2e9b1aa94e47d7cd5dfd5b");
  const VersionHash vae = sha256_from_model_version(kVersion, url("https://civitai.com/api/download/models/7?type=VAE"));
  EXPECT_EQ(vae.file, "vae.safetensors");
  const VersionHash none =
      sha256_from_model_version(kVersion, url("https://civitai.com/api/download/models/7?format=PickleTensor"));
  EXPECT_NE(none.error.find("no file matching"), std::string::npos);
}

TEST(CivitaiVersion, UnreadableAnswersAreErrors) {
  const Url u = url("https://civitai.com/api/download/models/7");
  EXPECT_NE(sha256_from_model_version("<html>", u).error.find("not JSON"), std::string::npos);
  EXPECT_NE(sha256_from_model_version(R"({"id": 7})", u).error.find("no \"files\""), std::string::npos);
  const VersionHash no_hash = sha256_from_model_version(R"({"files": [{"name": "m", "primary": true}]})", u);
  EXPECT_EQ(no_hash.error, "");
  EXPECT_EQ(no_hash.sha256, "");
  const VersionHash bad = sha256_from_model_version(R"({"files": [{"name": "m", "hashes": {"SHA256": "XYZ"}}]})", u);
  EXPECT_NE(bad.error.find("not 64 hexadecimal digits"), std::string::npos);
}

}  // namespace
}  // namespace sdxlw
