#pragma once
// Where tests find their data: the repository's tests/fixtures, the build tree, temp dirs.

#include <filesystem>
#include <string>

namespace sdxlw::test {

inline std::filesystem::path fixtures_dir() { return SDXLW_TEST_FIXTURES; }
inline std::filesystem::path fixture(const std::string& rel) { return fixtures_dir() / rel; }
inline std::filesystem::path source_dir() { return SDXLW_SOURCE_DIR; }
inline std::filesystem::path binary_dir() { return SDXLW_TEST_BINARY_DIR; }
// The fixture checkpoint rebuilt from tiny_a.recipe.json by the ctest fixture setup.
inline std::filesystem::path tiny_checkpoint() { return SDXLW_TINY_CHECKPOINT; }

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

}  // namespace sdxlw::test
