#include "io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/file_util.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// A file laid out by hand: u64 little-endian `header_len` (the header's real length unless
// overridden), the header text, then `data`.
std::string raw_file(const TempDir& dir, const std::string& name, const std::string& header,
                     const std::string& data = {}, std::optional<uint64_t> header_len = {}) {
  const uint64_t len = header_len.value_or(header.size());
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  bytes += header;
  bytes += data;
  const std::string path = (dir / name).string();
  write_file(path, bytes);
  return path;
}

// Opening `path` fails with a SafetensorsError naming the file and containing every part.
::testing::AssertionResult Rejected(const std::string& path,
                                    std::initializer_list<std::string> parts) {
  try {
    SafetensorsFile::open(path);
  } catch (const SafetensorsError& e) {
    const std::string msg = e.what();
    if (msg.find(path) == std::string::npos) {
      return ::testing::AssertionFailure() << "message does not name the file: " << msg;
    }
    for (const auto& part : parts) {
      if (msg.find(part) == std::string::npos) {
        return ::testing::AssertionFailure() << "message lacks \"" << part << "\": " << msg;
      }
    }
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "wrong exception type: " << e.what();
  }
  return ::testing::AssertionFailure() << "opened without error";
}

std::string pattern(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7);
  return s;
}

uint64_t header_length_of(const std::string& path) {
  const std::string bytes = read_file(path);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<uint8_t>(bytes[i]);
  return len;
}

TEST(DType, NamesSizesAndParsingAgree) {
  const std::vector<std::pair<std::string, size_t>> expected = {
      {"F16", 2}, {"BF16", 2}, {"F32", 4}, {"F64", 8}, {"I64", 8},
      {"I32", 4}, {"I16", 2},  {"I8", 1},  {"U8", 1},  {"BOOL", 1}};
  for (const auto& [name, size] : expected) {
    const auto dtype = parse_dtype(name);
    ASSERT_TRUE(dtype.has_value()) << name;
    EXPECT_STREQ(dtype_name(*dtype), name.c_str());
    EXPECT_EQ(dtype_size(*dtype), size) << name;
  }
  EXPECT_FALSE(parse_dtype("F8_E4M3").has_value());
  EXPECT_FALSE(parse_dtype("f16").has_value());
  EXPECT_FALSE(parse_dtype("").has_value());
}

TEST(Safetensors, WriterAndReaderRoundTripEveryDtype) {
  TempDir dir;
  const std::string path = (dir / "all.safetensors").string();
  const char* names[] = {"F16", "BF16", "F32", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"};
  std::vector<std::string> payloads;
  std::vector<std::pair<SafetensorsWriter::Entry, const void*>> tensors;
  payloads.reserve(std::size(names));
  for (size_t i = 0; i < std::size(names); ++i) {
    const DType dtype = *parse_dtype(names[i]);
    const std::vector<int64_t> shape = {2, static_cast<int64_t>(i + 1), 3};
    payloads.push_back(pattern(6 * (i + 1) * dtype_size(dtype), static_cast<uint8_t>(i)));
    tensors.push_back({{std::string("t.") + names[i], dtype, shape}, payloads.back().data()});
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "ünïcode"}};
  write_safetensors(path, tensors, metadata);

  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.tensors().size(), std::size(names));
  for (size_t i = 0; i < std::size(names); ++i) {
    const TensorInfo& t = file.at(std::string("t.") + names[i]);
    EXPECT_STREQ(dtype_name(t.dtype), names[i]);
    EXPECT_EQ(t.shape, (std::vector<int64_t>{2, static_cast<int64_t>(i + 1), 3}));
    EXPECT_EQ(t.numel(), static_cast<int64_t>(6 * (i + 1)));
    EXPECT_EQ(t.nbytes, payloads[i].size());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.data(t)), t.nbytes), payloads[i])
        << names[i];
  }
  // Listed in data order, which is the writer's order.
  for (size_t i = 0; i < std::size(names); ++i) {
    EXPECT_EQ(file.tensors()[i].name, std::string("t.") + names[i]);
  }
  EXPECT_EQ(file.file_size(), fs::file_size(path));
}

TEST(Safetensors, WriterStartsTheDataSectionAtAMultipleOfEight) {
  TempDir dir;
  for (size_t name_len = 1; name_len <= 9; ++name_len) {
    const std::string path = (dir / ("a" + std::to_string(name_len))).string();
    const float v = 1.5f;
    write_safetensors(path, {{{std::string(name_len, 'x'), DType::F32, {}}, &v}});
    const uint64_t header_len = header_length_of(path);
    EXPECT_EQ((8 + header_len) % 8, 0u) << name_len;
    const auto file = SafetensorsFile::open(path);
    const TensorInfo& t = file.tensors().at(0);
    EXPECT_EQ(t.numel(), 1);
    float got;
    std::memcpy(&got, file.data(t), 4);
    EXPECT_EQ(got, 1.5f);
  }
}

TEST(Safetensors, ZeroElementTensorsAreAccepted) {
  TempDir dir;
  const std::string path = (dir / "empty.safetensors").string();
  const int64_t w[] = {1, 2, 3};
  write_safetensors(path, {{{"v_pred", DType::F32, {0}}, nullptr},
                           {{"w", DType::I64, {3}}, w},
                           {{"ztsnr", DType::BOOL, {4, 0, 2}}, nullptr}});
  const auto file = SafetensorsFile::open(path);
  ASSERT_EQ(file.tensors().size(), 3u);
  const TensorInfo& v = file.at("v_pred");
  EXPECT_EQ(v.numel(), 0);
  EXPECT_EQ(v.nbytes, 0u);
  EXPECT_EQ(file.at("ztsnr").numel(), 0);
  EXPECT_NE(file.data(v), nullptr);
  file.release(v);  // no bytes, nothing to drop
  EXPECT_EQ(std::memcmp(file.data(file.at("w")), w, sizeof w), 0);

  // An empty span may sit anywhere, even inside another tensor's bytes.
  const std::string hand = raw_file(
      dir, "hand.safetensors",
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("marker":{"dtype":"F16","shape":[0],"data_offsets":[4,4]}})",
      std::string(8, '\1'));
  const auto f2 = SafetensorsFile::open(hand);
  EXPECT_EQ(f2.tensors().size(), 2u);
}

TEST(Safetensors, EmptyHeaderObjectMeansNoTensors) {
  TempDir dir;
  const auto file = SafetensorsFile::open(raw_file(dir, "none.safetensors", "{}"));
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_TRUE(file.metadata().empty());
  EXPECT_EQ(file.find("x"), nullptr);

  const std::string written = (dir / "written.safetensors").string();
  write_safetensors(written, {});
  EXPECT_TRUE(SafetensorsFile::open(written).tensors().empty());
}

TEST(Safetensors, GapsAndPaddingAreAllowedAndTensorsAreListedByOffset) {
  TempDir dir;
  const std::string path =
      raw_file(dir, "gaps.safetensors",
               R"({"z_first":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
               R"("a_last":{"dtype":"I16","shape":[2],"data_offsets":[12,16]},)"
               R"("m_mid":{"dtype":"U8","shape":[2],"data_offsets":[6,8]},)"
               R"("__metadata__":{"k":"v"}}      )",
               pattern(20, 1));
  const auto file = SafetensorsFile::open(path);
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.tensors()[0].name, "z_first");
  EXPECT_EQ(file.tensors()[1].name, "m_mid");
  EXPECT_EQ(file.tensors()[2].name, "a_last");
  EXPECT_EQ(file.metadata().at("k"), "v");
  const std::string data = pattern(20, 1);
  EXPECT_EQ(std::memcmp(file.data(file.at("a_last")), data.data() + 12, 4), 0);
  EXPECT_EQ(file.find("m_mid"), &file.tensors()[1]);
}

TEST(Safetensors, AtNamesTheFileAndTheMissingTensor) {
  TempDir dir;
  const std::string path = raw_file(dir, "one.safetensors", "{}");
  const auto file = SafetensorsFile::open(path);
  try {
    file.at("model.diffusion_model.out.2.weight");
    FAIL() << "no exception";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no tensor named \"model.diffusion_model.out.2.weight\""),
              std::string::npos)
        << e.what();
  }
}

TEST(Safetensors, ViewsAreCopyOnWriteAndNeverChangeTheFile) {
  TempDir dir;
  const std::string path = (dir / "cow.safetensors").string();
  const std::string payload = pattern(64, 3);
  write_safetensors(path, {{{"t", DType::U8, {64}}, payload.data()}});
  fs::permissions(path, fs::perms::owner_read);  // like the read-only fixtures
  const std::string before = read_file(path);
  {
    const auto file = SafetensorsFile::open(path);
    uint8_t* p = file.data(file.at("t"));
    std::memset(p, 0xAB, 64);
    EXPECT_EQ(p[10], 0xAB);
  }
  EXPECT_EQ(read_file(path), before);
}

TEST(Safetensors, ReleaseDropsOnlyPagesWhollyInsideTheTensor) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  TempDir dir;
  const std::string path = (dir / "pages.safetensors").string();
  const std::string a = pattern(100, 1), big = pattern(5 * page + 123, 2), c = pattern(50, 3);
  write_safetensors(path, {{{"a", DType::U8, {100}}, a.data()},
                           {{"big", DType::U8, {static_cast<int64_t>(big.size())}}, big.data()},
                           {{"c", DType::U8, {50}}, c.data()}});
  const auto file = SafetensorsFile::open(path);
  const TensorInfo& ta = file.at("a");
  const TensorInfo& tbig = file.at("big");
  const TensorInfo& tc = file.at("c");
  uint8_t* pa = file.data(ta);
  uint8_t* pbig = file.data(tbig);
  uint8_t* pc = file.data(tc);
  // Private edits: on the neighbours' pages (shared with big's first and last bytes) and in a
  // page wholly inside big.
  pa[99] = 0x11;
  pc[0] = 0x22;
  pbig[0] = 0x33;
  pbig[big.size() - 1] = 0x44;
  const size_t inner = 2 * page;
  pbig[inner] = static_cast<uint8_t>(big[inner] ^ 0xff);

  file.release(tbig);

  EXPECT_EQ(pa[99], 0x11);
  EXPECT_EQ(pc[0], 0x22);
  EXPECT_EQ(pbig[0], 0x33);
  EXPECT_EQ(pbig[big.size() - 1], 0x44);
  // The dropped page reads back from the file.
  EXPECT_EQ(pbig[inner], static_cast<uint8_t>(big[inner]));
  EXPECT_EQ(std::memcmp(pbig + page, big.data() + page, 3 * page), 0);
  file.prefetch();
}

TEST(Safetensors, MovedFileKeepsItsMapping) {
  TempDir dir;
  const std::string path = (dir / "m.safetensors").string();
  const int32_t v[] = {7, 8, 9};
  write_safetensors(path, {{{"v", DType::I32, {3}}, v}});
  auto first = SafetensorsFile::open(path);
  const uint8_t* p = first.data(first.at("v"));
  SafetensorsFile second = std::move(first);
  EXPECT_EQ(second.data(second.at("v")), p);
  EXPECT_EQ(std::memcmp(p, v, sizeof v), 0);
  SafetensorsFile third = SafetensorsFile::open(raw_file(dir, "e.safetensors", "{}"));
  third = std::move(second);
  EXPECT_EQ(third.tensors().size(), 1u);
}

TEST(Safetensors, ReadsTheLoraFixture) {
  const std::string path = test::fixture("lora_a.safetensors").string();
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.tensors().size(), 882u);
  EXPECT_EQ(file.metadata().at("ss_network_dim"), "4");
  EXPECT_EQ(file.metadata().at("ss_base_model_version"), "sdxl_base_v1-0");
  const TensorInfo& down = file.at("lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight");
  EXPECT_EQ(down.dtype, DType::F16);
  EXPECT_EQ(down.shape, (std::vector<int64_t>{4, 64}));
  EXPECT_EQ(file.at("lora_unet_output_blocks_8_0_skip_connection.lora_up.weight").shape,
            (std::vector<int64_t>{64, 4, 1, 1}));
  const TensorInfo& alpha = file.at("lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha");
  EXPECT_TRUE(alpha.shape.empty());
  EXPECT_EQ(alpha.nbytes, 2u);

  // Every span lies inside the file, and data() points at exactly those file bytes.
  const std::string bytes = read_file(path);
  const uint64_t data_start = 8 + header_length_of(path);
  for (const TensorInfo& t : file.tensors()) {
    EXPECT_EQ(t.dtype, DType::F16) << t.name;
    ASSERT_LE(data_start + t.offset + t.nbytes, bytes.size()) << t.name;
    ASSERT_EQ(std::memcmp(file.data(t), bytes.data() + data_start + t.offset, t.nbytes), 0)
        << t.name;
  }
}

TEST(Safetensors, ReadsTheJobTensorsFixture) {
  const auto file =
      SafetensorsFile::open(test::fixture("jobs/01_euler_64/tensors.safetensors").string());
  EXPECT_EQ(file.tensors().size(), 20u);
  EXPECT_TRUE(file.metadata().empty());
  const TensorInfo& context = file.at("cond_context");
  EXPECT_EQ(context.dtype, DType::F32);
  EXPECT_EQ(context.shape, (std::vector<int64_t>{77, 128}));
  const TensorInfo& tokens = file.at("tokens_te1");
  EXPECT_EQ(tokens.dtype, DType::I64);
  EXPECT_EQ(tokens.shape, (std::vector<int64_t>{1, 77}));
  int64_t first_token;
  std::memcpy(&first_token, file.data(tokens), 8);
  EXPECT_EQ(first_token, 49406);  // CLIP BOS
  const TensorInfo& time_ids = file.at("time_ids");
  float ids[6];
  std::memcpy(ids, file.data(time_ids), sizeof ids);
  EXPECT_EQ(std::vector<float>(ids, ids + 6), (std::vector<float>{64, 64, 0, 0, 64, 64}));
  EXPECT_EQ(file.at("latents_steps").shape, (std::vector<int64_t>{10, 1, 4, 8, 8}));
}

// An SDXL-sized layout (2,500 tensors, 7 GB) as a sparse file: opening reads only the header.
TEST(Safetensors, OpensACheckpointSizedSparseFile) {
  TempDir dir;
  const int64_t count = 2500, elems = 1400 * 1000;  // 2.8 MB of F16 each
  std::string header = "{";
  for (int64_t i = 0; i < count; ++i) {
    const int64_t begin = i * elems * 2;
    header += (i ? "," : "") + std::string("\"model.diffusion_model.block_") + std::to_string(i) +
              ".weight\":{\"dtype\":\"F16\",\"shape\":[1400,1000],\"data_offsets\":[" +
              std::to_string(begin) + "," + std::to_string(begin + elems * 2) + "]}";
  }
  header += "}";
  const std::string path = raw_file(dir, "big.safetensors", header);
  const uint64_t total = 8 + header.size() + uint64_t(count * elems * 2);
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(total)), 0);
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.file_size(), total);
  ASSERT_EQ(file.tensors().size(), static_cast<size_t>(count));
  EXPECT_EQ(file.tensors().back().name, "model.diffusion_model.block_2499.weight");
  EXPECT_EQ(file.tensors().back().offset + file.tensors().back().nbytes,
            uint64_t(count * elems * 2));
}

// --- Corrupt files: each is rejected with its own message naming the file (and the tensor). ---

const char* kGood = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";

TEST(SafetensorsCorrupt, RejectsAnEmptyFile) {
  TempDir dir;
  const std::string path = (dir / "zero.safetensors").string();
  write_file(path, "");
  EXPECT_TRUE(Rejected(path, {"the file is empty (0 bytes)"}));
}

TEST(SafetensorsCorrupt, RejectsAFileTooShortForTheHeaderLength) {
  TempDir dir;
  const std::string path = (dir / "short.safetensors").string();
  write_file(path, std::string("\x10\0\0\0\0", 5));
  EXPECT_TRUE(Rejected(path, {"truncated", "5 bytes, too short for the 8-byte header length"}));
}

TEST(SafetensorsCorrupt, RejectsAHeaderLengthPastTheEndOfTheFile) {
  TempDir dir;
  const std::string path = raw_file(dir, "past.safetensors", kGood, "", 4000);
  EXPECT_TRUE(Rejected(path, {"header length 4000 runs past the end of the file"}));
}

TEST(SafetensorsCorrupt, RejectsAnAbsurdHeaderLength) {
  TempDir dir;
  const std::string path = raw_file(dir, "absurd.safetensors", kGood, "", 1ull << 40);
  EXPECT_TRUE(Rejected(path, {"absurd header length 1099511627776"}));
}

TEST(SafetensorsCorrupt, RejectsAHeaderLengthTooSmallForAnObject) {
  TempDir dir;
  const std::string path = raw_file(dir, "tiny.safetensors", "{}", "", 1);
  EXPECT_TRUE(Rejected(path, {"header length 1 is too small"}));
}

TEST(SafetensorsCorrupt, RejectsInvalidJson) {
  TempDir dir;
  EXPECT_TRUE(Rejected(raw_file(dir, "bad.safetensors", R"({"w":{"dtype":"F32",)"),
                       {"the header is not valid JSON", "parse error"}));
  EXPECT_TRUE(Rejected(raw_file(dir, "utf8.safetensors", "{\"\xff\":1}"),
                       {"the header is not valid JSON"}));
  EXPECT_TRUE(Rejected(raw_file(dir, "trail.safetensors", "{} x"),
                       {"the header is not valid JSON"}));
}

TEST(SafetensorsCorrupt, RejectsJsonThatIsNotAnObject) {
  TempDir dir;
  EXPECT_TRUE(Rejected(raw_file(dir, "arr.safetensors", "[1, 2]"),
                       {"the header is not a JSON object (it is array)"}));
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_TRUE(Rejected(raw_file(dir, "deep.safetensors", deep), {"not a JSON object"}));
}

TEST(SafetensorsCorrupt, RejectsAnUnsupportedDtypeNamingIt) {
  TempDir dir;
  const std::string path = raw_file(
      dir, "f8.safetensors", R"({"w8":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})",
      "abcd");
  EXPECT_TRUE(Rejected(path, {"tensor \"w8\"", "unsupported dtype \"F8_E4M3\"", "BF16"}));
  EXPECT_TRUE(Rejected(
      raw_file(dir, "num.safetensors", R"({"w":{"dtype":7,"shape":[],"data_offsets":[0,4]}})",
               "abcd"),
      {"tensor \"w\"", "\"dtype\" is not a string (it is number)"}));
}

TEST(SafetensorsCorrupt, RejectsReversedOffsets) {
  TempDir dir;
  const std::string path = raw_file(
      dir, "rev.safetensors", R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[24,0]}})",
      std::string(24, '\0'));
  EXPECT_TRUE(Rejected(path, {"tensor \"w\"", "data_offsets [24, 0] are reversed"}));
}

TEST(SafetensorsCorrupt, RejectsOverlappingTensorsNamingBoth) {
  TempDir dir;
  const std::string path =
      raw_file(dir, "overlap.safetensors",
               R"({"first":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
               R"("second":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},)"
               R"("third":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}})",
               std::string(24, '\0'));
  EXPECT_TRUE(Rejected(path, {"tensor \"second\" (data_offsets [12, 20]) overlaps tensor "
                              "\"first\" (data_offsets [0, 16])"}));
  // A tensor nested wholly inside an earlier, longer one.
  const std::string nested =
      raw_file(dir, "nested.safetensors",
               R"({"outer":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
               R"("mid":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},)"
               R"("inner":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}})",
               std::string(16, '\0'));
  EXPECT_TRUE(Rejected(nested, {"tensor \"mid\"", "overlaps tensor \"outer\""}));
}

TEST(SafetensorsCorrupt, RejectsOffsetsOutsideTheDataSection) {
  TempDir dir;
  const std::string path =
      raw_file(dir, "range.safetensors",
               R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[100,124]}})",
               std::string(24, '\0'));
  EXPECT_TRUE(Rejected(path, {"tensor \"w\"",
                              "data_offsets [100, 124] run past the end of the data section "
                              "(24 bytes)"}));
}

TEST(SafetensorsCorrupt, RejectsAFileTruncatedInsideItsData) {
  TempDir dir;
  const std::string path = (dir / "cut.safetensors").string();
  const std::string a = pattern(400, 1), b = pattern(400, 2);
  write_safetensors(path, {{{"a", DType::F16, {200}}, a.data()},
                           {{"b", DType::F16, {20, 10}}, b.data()}});
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(fs::file_size(path) - 1)), 0);
  EXPECT_TRUE(Rejected(path, {"tensor \"b\"", "data_offsets [400, 800]", "truncated or corrupt"}));
}

TEST(SafetensorsCorrupt, RejectsAShapeThatDisagreesWithTheSpan) {
  TempDir dir;
  const std::string path = raw_file(
      dir, "size.safetensors", R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})",
      std::string(24, '\0'));
  EXPECT_TRUE(Rejected(path, {"tensor \"w\"",
                              "shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] span 20"}));
}

TEST(SafetensorsCorrupt, RejectsShapeEntriesThatAreNotNonNegativeIntegers) {
  TempDir dir;
  EXPECT_TRUE(Rejected(
      raw_file(dir, "float.safetensors",
               R"({"w":{"dtype":"F32","shape":[2,2.5],"data_offsets":[0,20]}})", std::string(20, '\0')),
      {"tensor \"w\"", "shape entry 1 is not a non-negative integer: 2.5"}));
  EXPECT_TRUE(Rejected(
      raw_file(dir, "neg.safetensors", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
               std::string(4, '\0')),
      {"shape entry 0 is not a non-negative integer: -1"}));
  EXPECT_TRUE(Rejected(
      raw_file(dir, "str.safetensors", R"({"w":{"dtype":"F32","shape":["3"],"data_offsets":[0,12]}})",
               std::string(12, '\0')),
      {"shape entry 0 is not a non-negative integer: \"3\""}));
  EXPECT_TRUE(Rejected(
      raw_file(dir, "obj.safetensors", R"({"w":{"dtype":"F32","shape":3,"data_offsets":[0,12]}})",
               std::string(12, '\0')),
      {"tensor \"w\"", "\"shape\" is not an array (it is number)"}));
}

TEST(SafetensorsCorrupt, RejectsAShapeWhoseByteSizeOverflows) {
  TempDir dir;
  const std::string path = raw_file(
      dir, "huge.safetensors",
      R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
      std::string(8, '\0'));
  EXPECT_TRUE(Rejected(path, {"tensor \"w\"", "overflows 64 bits"}));
  const std::string path2 = raw_file(
      dir, "huge2.safetensors",
      R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})",
      std::string(8, '\0'));
  EXPECT_TRUE(Rejected(path2, {"tensor \"w\"", "overflows 64 bits"}));
}

TEST(SafetensorsCorrupt, RejectsOffsetsThatAreNotTwoNonNegativeIntegers) {
  TempDir dir;
  EXPECT_TRUE(Rejected(
      raw_file(dir, "three.safetensors",
               R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,2,4]}})", "abcd"),
      {"tensor \"w\"", "\"data_offsets\" is not an array of two integers: [0,2,4]"}));
  EXPECT_TRUE(Rejected(
      raw_file(dir, "frac.safetensors", R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0.5,4]}})",
               "abcd"),
      {"tensor \"w\"", "data_offsets entry 0 is not a non-negative integer: 0.5"}));
  EXPECT_TRUE(Rejected(
      raw_file(dir, "negoff.safetensors", R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,-4]}})",
               "abcd"),
      {"data_offsets entry 1 is not a non-negative integer: -4"}));
}

TEST(SafetensorsCorrupt, RejectsEntriesMissingAField) {
  TempDir dir;
  EXPECT_TRUE(Rejected(
      raw_file(dir, "nodtype.safetensors", R"({"w":{"shape":[1],"data_offsets":[0,4]}})", "abcd"),
      {"tensor \"w\"", "missing \"dtype\""}));
  EXPECT_TRUE(Rejected(
      raw_file(dir, "noshape.safetensors", R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", "abcd"),
      {"tensor \"w\"", "missing \"shape\""}));
  EXPECT_TRUE(Rejected(
      raw_file(dir, "nooffsets.safetensors", R"({"w":{"dtype":"F32","shape":[1]}})", "abcd"),
      {"tensor \"w\"", "missing \"data_offsets\""}));
}

TEST(SafetensorsCorrupt, RejectsAnEntryThatIsNotAnObject) {
  TempDir dir;
  const std::string path = raw_file(dir, "entry.safetensors", R"({"w":[0,4]})", "abcd");
  EXPECT_TRUE(Rejected(path, {"tensor \"w\"", "the entry is not a JSON object (it is array)"}));
}

TEST(SafetensorsCorrupt, RejectsADuplicateTensorName) {
  TempDir dir;
  const std::string path =
      raw_file(dir, "dup.safetensors",
               R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
               R"("w":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
               "abcd");
  EXPECT_TRUE(Rejected(path, {"tensor \"w\" appears more than once in the header"}));
  const std::string inner =
      raw_file(dir, "dupfield.safetensors",
               R"({"w":{"dtype":"U8","dtype":"F32","shape":[2],"data_offsets":[0,2]}})", "ab");
  EXPECT_TRUE(Rejected(inner, {"entry \"w\": key \"dtype\" appears more than once"}));
}

TEST(SafetensorsCorrupt, RejectsMetadataThatIsNotAnObjectOfStrings) {
  TempDir dir;
  EXPECT_TRUE(Rejected(raw_file(dir, "meta1.safetensors", R"({"__metadata__":["a"]})"),
                       {"\"__metadata__\" is not a JSON object (it is array)"}));
  EXPECT_TRUE(Rejected(raw_file(dir, "meta2.safetensors", R"({"__metadata__":{"steps":30}})"),
                       {"\"__metadata__\" entry \"steps\" is not a string (it is number)"}));
}

TEST(SafetensorsCorrupt, RejectsPathsThatAreNotReadableFiles) {
  TempDir dir;
  const std::string missing = (dir / "missing.safetensors").string();
  EXPECT_TRUE(Rejected(missing, {"No such file or directory"}));
  EXPECT_TRUE(Rejected(dir.path().string(), {"not a regular file"}));
}

// --- Writer misuse ---

::testing::AssertionResult Throws(const std::function<void()>& f,
                                  std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const SafetensorsError& e) {
    const std::string msg = e.what();
    for (const auto& part : parts) {
      if (msg.find(part) == std::string::npos) {
        return ::testing::AssertionFailure() << "message lacks \"" << part << "\": " << msg;
      }
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no SafetensorsError";
}

TEST(SafetensorsWriter, RejectsAWriteOfTheWrongSize) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  SafetensorsWriter writer(path, {{"x", DType::F16, {3, 4}}});
  const std::string bytes(23, '\0');
  EXPECT_TRUE(Throws([&] { writer.write(bytes.data(), bytes.size()); },
                     {path, "tensor \"x\"", "write() got 23 bytes but shape [3, 4] of F16 needs 24"}));
}

TEST(SafetensorsWriter, FinishRejectsAMissingTensorAndTheFileIsRemoved) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  {
    SafetensorsWriter writer(path, {{"x", DType::U8, {2}}, {"y", DType::U8, {2}}});
    writer.write("ab", 2);
    EXPECT_TRUE(Throws([&] { writer.finish(); },
                       {path, "tensor \"y\"", "never written (finish() after 1 of 2 tensors)"}));
    EXPECT_TRUE(fs::exists(path));
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(SafetensorsWriter, RejectsExtraWritesAndASecondFinish) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  SafetensorsWriter writer(path, {{"x", DType::U8, {2}}});
  writer.write("ab", 2);
  EXPECT_TRUE(Throws([&] { writer.write("cd", 2); }, {path, "after all 1 tensors were written"}));
  writer.finish();
  EXPECT_TRUE(Throws([&] { writer.finish(); }, {path, "finish() called twice"}));
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(SafetensorsFile::open(path).tensors().size(), 1u);
}

TEST(SafetensorsWriter, RejectsBadEntries) {
  TempDir dir;
  const std::string path = (dir / "w.safetensors").string();
  EXPECT_TRUE(Throws([&] { SafetensorsWriter w(path, {{"a", DType::U8, {1}}, {"a", DType::U8, {1}}}); },
                     {path, "tensor \"a\": listed more than once"}));
  EXPECT_TRUE(Throws([&] { SafetensorsWriter w(path, {{"n", DType::U8, {2, -1}}}); },
                     {path, "tensor \"n\"", "shape [2, -1] has a negative dimension"}));
  EXPECT_TRUE(Throws([&] { SafetensorsWriter w(path, {{"__metadata__", DType::U8, {1}}}); },
                     {"cannot name a tensor"}));
  EXPECT_TRUE(Throws([&] { SafetensorsWriter w(path, {{"", DType::U8, {1}}}); }, {"empty name"}));
  EXPECT_TRUE(Throws([&] { SafetensorsWriter w(path, {{"bad\xff", DType::U8, {1}}}); },
                     {"not valid UTF-8"}));
  EXPECT_FALSE(fs::exists(path));
  const std::string nowhere = (dir / "no/such/dir.safetensors").string();
  EXPECT_TRUE(Throws([&] { SafetensorsWriter w(nowhere, {}); },
                     {nowhere, "cannot create the file: No such file or directory"}));
}

}  // namespace
}  // namespace sdxlw
