#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include "support/paths.h"
#include "util/assets.h"

namespace {

namespace fs = std::filesystem;

// Sets (or unsets, with nullopt) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class ScopedCwd {
 public:
  explicit ScopedCwd(const fs::path& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~ScopedCwd() { fs::current_path(old_); }
  ScopedCwd(const ScopedCwd&) = delete;
  ScopedCwd& operator=(const ScopedCwd&) = delete;

 private:
  fs::path old_;
};

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

TEST(FindAsset, PrefersTheEnvironmentDirectory) {
  sdxlw::test::TempDir env_dir, cwd;
  touch(env_dir / "vocab.gz");
  touch(cwd / "assets/vocab.gz");
  ScopedEnv env("SDXLW_ASSETS_DIR", env_dir.path().string());
  ScopedCwd in(cwd.path());
  EXPECT_EQ(fs::path(sdxlw::find_asset("vocab.gz")), env_dir / "vocab.gz");
}

TEST(FindAsset, FallsBackToTheWorkingDirectoryAssets) {
  sdxlw::test::TempDir env_dir, cwd;
  touch(cwd / "assets/vocab.gz");
  ScopedEnv env("SDXLW_ASSETS_DIR", env_dir.path().string());  // exists but lacks the file
  ScopedCwd in(cwd.path());
  EXPECT_EQ(fs::path(sdxlw::find_asset("vocab.gz")), fs::path("assets/vocab.gz"));
}

TEST(FindAsset, IgnoresADirectoryWithTheAssetsName) {
  sdxlw::test::TempDir cwd;
  fs::create_directories(cwd / "assets/vocab.gz");
  ScopedEnv env("SDXLW_ASSETS_DIR", std::nullopt);
  ScopedCwd in(cwd.path());
  EXPECT_THROW(sdxlw::find_asset("vocab.gz"), std::runtime_error);
}

TEST(FindAsset, ErrorListsEveryPlaceItLooked) {
  sdxlw::test::TempDir env_dir, cwd;
  ScopedEnv env("SDXLW_ASSETS_DIR", env_dir.path().string());
  ScopedCwd in(cwd.path());
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe").parent_path();
  try {
    sdxlw::find_asset("missing.gz");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    for (const fs::path& p : {env_dir / "missing.gz", exe_dir / "assets/missing.gz",
                              (exe_dir / "../assets/missing.gz").lexically_normal(),
                              (exe_dir / "../share/sdxl-worker/missing.gz").lexically_normal(),
                              fs::path("assets/missing.gz")}) {
      EXPECT_NE(msg.find(p.string()), std::string::npos) << p << " not in: " << msg;
    }
    EXPECT_NE(msg.find("SDXLW_ASSETS_DIR"), std::string::npos) << msg;
  }
}

}  // namespace
