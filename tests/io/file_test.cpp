#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "io/file_util.h"
#include "io/mapped_file.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(FileUtil, WritesAndReadsBackBinaryData) {
  test::TempDir dir;
  const std::string path = (dir / "x.bin").string();
  std::string bytes(200000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i % 251);
  write_file(path, bytes);
  EXPECT_EQ(read_file(path), bytes);
  write_file(path, "short");  // truncates
  EXPECT_EQ(read_file(path), "short");
}

TEST(FileUtil, ErrorsNameThePathAndTheReason) {
  test::TempDir dir;
  const std::string missing = (dir / "missing.json").string();
  try {
    read_file(missing);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "cannot open \"" + missing + "\": No such file or directory"))
        << e.what();
  }
  try {
    read_file(dir.path().string());
    FAIL() << "read a directory";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "Is a directory")) << e.what();
  }
  const std::string nowhere = (dir / "no/dir/out.png").string();
  try {
    write_file(nowhere, "x");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "cannot create \"" + nowhere + "\"")) << e.what();
  }
}

TEST(MappedFile, MapsAFileAndAnEmptyOne) {
  test::TempDir dir;
  const std::string path = (dir / "m.bin").string();
  write_file(path, "hello mapping");
  MappedFile map(path, MappedFile::Access::ReadOnly);
  EXPECT_EQ(map.path(), path);
  ASSERT_EQ(map.size(), 13u);
  EXPECT_EQ(std::memcmp(map.data(), "hello mapping", 13), 0);
  EXPECT_TRUE(map.will_need(0, map.size()));
  EXPECT_TRUE(map.dont_need(0, map.size()));
  EXPECT_EQ(std::memcmp(map.data(), "hello mapping", 13), 0);

  const std::string empty = (dir / "empty.bin").string();
  write_file(empty, "");
  MappedFile none(empty);
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.data(), nullptr);
  EXPECT_TRUE(none.will_need(0, 100));
  EXPECT_TRUE(none.dont_need(0, 100));
}

TEST(MappedFile, CopyOnWriteEditsStayInTheProcess) {
  test::TempDir dir;
  const std::string path = (dir / "m.bin").string();
  write_file(path, "abcdef");
  {
    MappedFile map(path);
    map.data()[0] = 'Z';
    MappedFile moved = std::move(map);
    EXPECT_EQ(map.data(), nullptr);
    EXPECT_EQ(moved.data()[0], 'Z');
  }
  EXPECT_EQ(read_file(path), "abcdef");
}

TEST(MappedFile, DontNeedKeepsPagesSharedWithBytesOutsideTheRange) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  test::TempDir dir;
  const std::string path = (dir / "m.bin").string();
  write_file(path, std::string(4 * page, 'o'));
  MappedFile map(path);
  for (size_t i = 0; i < 4; ++i) map.data()[i * page + 5] = 'x';
  // [page + 1, 3 * page + 1): only page 2 lies wholly inside.
  EXPECT_TRUE(map.dont_need(page + 1, 2 * page));
  EXPECT_EQ(map.data()[5], 'x');
  EXPECT_EQ(map.data()[page + 5], 'x');
  EXPECT_EQ(map.data()[2 * page + 5], 'o');  // dropped, read again from the file
  EXPECT_EQ(map.data()[3 * page + 5], 'x');
}

TEST(MappedFile, ErrorsNameThePathAndTheReason) {
  test::TempDir dir;
  const std::string missing = (dir / "missing.safetensors").string();
  try {
    MappedFile map(missing);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), missing)) << e.what();
    EXPECT_TRUE(contains(e.what(), "No such file or directory")) << e.what();
  }
  try {
    MappedFile map(dir.path().string());
    FAIL() << "mapped a directory";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "not a regular file")) << e.what();
  }
}

}  // namespace
}  // namespace sdxlw
