#include "store/models_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/file_util.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

// The message of the std::runtime_error `text` raises, or "" when it parses.
std::string parse_error(const std::string& text) {
  try {
    parse_models_config(text, "models.json");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

const char* const kSha = "57f84d4d97f548724e47078e676d53f998ef325b1317d5924e87bbc510fc005b";

TEST(ModelsConfig, ParsesTheFixtureWithoutUrls) {
  const ModelsConfig c = load_models_config(test::fixture("models.json").string());
  EXPECT_EQ(c.checkpoint.name, "tiny_a");
  EXPECT_EQ(c.checkpoint.filename, "tiny_a.safetensors");
  EXPECT_EQ(c.checkpoint.url, "");
  EXPECT_EQ(c.checkpoint.sha256, kSha);
  EXPECT_FALSE(c.checkpoint.scale.has_value());
  ASSERT_EQ(c.loras.size(), 1u);
  EXPECT_EQ(c.loras[0].name, "lora_a");
  EXPECT_EQ(c.loras[0].filename, "lora_a.safetensors");
  ASSERT_TRUE(c.loras[0].scale.has_value());
  EXPECT_DOUBLE_EQ(*c.loras[0].scale, 1.0);
  EXPECT_EQ(c.loras[0].sha256, "e8ac88882ac3f724cd088f7d041f76260b07ba575a2e9b1aa94e47d7cd5dfd5b");
  EXPECT_EQ(c.source, test::fixture("models.json").string());
}

TEST(ModelsConfig, ParsesTheRepositoryModelsJsonWithCivitaiUrls) {
  const ModelsConfig c = load_models_config((test::source_dir() / "models.json").string());
  EXPECT_EQ(c.checkpoint.url, "https://civitai.com/api/download/models/1590699");
  EXPECT_EQ(c.checkpoint.sha256, "");
  ASSERT_EQ(c.loras.size(), 1u);
  EXPECT_EQ(c.loras[0].name, "Detail Tweaker XL");
  EXPECT_DOUBLE_EQ(c.loras[0].scale.value_or(0), 1.5);
}

TEST(ModelsConfig, LorasMayBeLeftOutAndUppercaseShaIsLowerCased) {
  std::string upper = kSha;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const ModelsConfig c = parse_models_config(
      R"({"checkpoint": {"name": "a", "filename": "a.safetensors", "sha256": ")" + upper + R"("}})", "m.json");
  EXPECT_TRUE(c.loras.empty());
  EXPECT_EQ(c.checkpoint.sha256, kSha);
}

TEST(ModelsConfig, MissingFileNamesItsPath) {
  try {
    load_models_config("/nonexistent/dir/models.json");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/models.json"), std::string::npos) << e.what();
  }
}

TEST(ModelsConfig, InvalidJsonNamesTheSource) {
  const std::string msg = parse_error("{\"checkpoint\": ");
  EXPECT_NE(msg.find("models.json is not valid JSON"), std::string::npos) << msg;
}

struct BadCase {
  const char* what;
  std::string json;
  std::vector<std::string> expected;  // substrings of the message
};

class ModelsConfigRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(ModelsConfigRejects, WithAMessageNamingEntryAndField) {
  const std::string msg = parse_error(GetParam().json);
  ASSERT_FALSE(msg.empty()) << GetParam().what << " was accepted";
  for (const auto& s : GetParam().expected) EXPECT_NE(msg.find(s), std::string::npos) << "missing \"" << s << "\" in: " << msg;
}

const std::string kCkpt = R"("checkpoint": {"name": "base", "filename": "base.safetensors"})";

INSTANTIATE_TEST_SUITE_P(
    Cases, ModelsConfigRejects,
    ::testing::Values(
        BadCase{"top level array", "[]", {"top level must be an object"}},
        BadCase{"no checkpoint", R"({"loras": []})", {"checkpoint is missing"}},
        BadCase{"missing name", R"({"checkpoint": {"filename": "a.safetensors"}})", {"checkpoint: name is missing"}},
        BadCase{"missing lora filename",
                "{" + kCkpt + R"(, "loras": [{"name": "Detail", "scale": 1}]})",
                {"loras[0] (\"Detail\"): filename is missing"}},
        BadCase{"filename with a slash",
                R"({"checkpoint": {"name": "base", "filename": "sub/base.safetensors"}})",
                {"checkpoint (\"base\"): filename \"sub/base.safetensors\" contains a path separator"}},
        BadCase{"filename with a backslash",
                R"({"checkpoint": {"name": "base", "filename": "..\\base.safetensors"}})",
                {"checkpoint (\"base\")", "path separator"}},
        BadCase{"filename ..", R"({"checkpoint": {"name": "base", "filename": ".."}})",
                {"checkpoint (\"base\"): filename \"..\" is not a file name"}},
        BadCase{"filename of the store's own files",
                R"({"checkpoint": {"name": "base", "filename": "x.safetensors.part"}})",
                {"checkpoint (\"base\")", "\".part\""}},
        BadCase{"bad url",
                "{" + kCkpt + R"(, "loras": [{"name": "L", "filename": "l.safetensors", "scale": 1, "url": "civitai.com/api/download/models/1"}]})",
                {"loras[0] (\"L\"): url \"civitai.com/api/download/models/1\" is not an absolute http(s) URL"}},
        BadCase{"ftp url",
                R"({"checkpoint": {"name": "base", "filename": "b", "url": "ftp://example.com/b"}})",
                {"checkpoint (\"base\"): url", "not an absolute http(s) URL"}},
        BadCase{"empty url", R"({"checkpoint": {"name": "base", "filename": "b", "url": ""}})",
                {"checkpoint (\"base\"): url is empty"}},
        BadCase{"bad sha256",
                R"({"checkpoint": {"name": "base", "filename": "b", "sha256": "abc123"}})",
                {"checkpoint (\"base\"): sha256 \"abc123\" is not 64 hexadecimal digits"}},
        BadCase{"non-hex sha256",
                R"({"checkpoint": {"name": "base", "filename": "b", "sha256": ")" + std::string(64, 'g') + R"("}})",
                {"checkpoint (\"base\"): sha256", "not 64 hexadecimal digits"}},
        BadCase{"lora without scale",
                "{" + kCkpt + R"(, "loras": [{"name": "Detail Tweaker XL", "filename": "d.safetensors"}]})",
                {"loras[0] (\"Detail Tweaker XL\"): scale is missing"}},
        BadCase{"scale not a number",
                "{" + kCkpt + R"(, "loras": [{"name": "D", "filename": "d.safetensors", "scale": "1.5"}]})",
                {"loras[0] (\"D\"): scale must be a number, got string"}},
        BadCase{"duplicate lora names",
                "{" + kCkpt +
                    R"(, "loras": [{"name": "D", "filename": "d1.safetensors", "scale": 1}, {"name": "D", "filename": "d2.safetensors", "scale": 1}]})",
                {"loras[1] (\"D\"): name duplicates loras[0]"}},
        BadCase{"duplicate filenames",
                "{" + kCkpt + R"(, "loras": [{"name": "D", "filename": "base.safetensors", "scale": 1}]})",
                {"loras[0] (\"D\"): filename \"base.safetensors\" is also used by checkpoint (\"base\")"}},
        BadCase{"unknown entry field",
                R"({"checkpoint": {"name": "base", "filename": "b", "sha": "x"}})",
                {"checkpoint (\"base\"): unknown field \"sha\""}},
        BadCase{"scale on the checkpoint",
                R"({"checkpoint": {"name": "base", "filename": "b", "scale": 1}})",
                {"checkpoint (\"base\"): unknown field \"scale\""}},
        BadCase{"unknown top-level field", "{" + kCkpt + R"(, "lora": []})", {"unknown field \"lora\""}},
        BadCase{"name not a string", R"({"checkpoint": {"name": 3, "filename": "b"}})",
                {"checkpoint: name must be a string, got number"}},
        BadCase{"loras not an array", "{" + kCkpt + R"(, "loras": {}})", {"loras must be an array, got object"}},
        BadCase{"every problem at once",
                R"({"checkpoint": {"filename": "a/b"}, "loras": [{"name": "D", "filename": "d"}]})",
                {"checkpoint: name is missing", "checkpoint: filename \"a/b\" contains a path separator",
                 "loras[0] (\"D\"): scale is missing"}}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string name;
      for (char c : std::string(info.param.what)) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

}  // namespace
}  // namespace sdxlw
