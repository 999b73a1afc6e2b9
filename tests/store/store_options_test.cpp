#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "store/model_store.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

namespace fs = std::filesystem;

// Sets (or unsets, with nullopt) an environment variable for the test, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ModelsDir, FlagWinsOverEnvironmentAndVolume) {
  test::TempDir volume;
  EXPECT_EQ(resolve_models_dir("/data/flag", "/data/env", volume.path().string()), "/data/flag");
}

TEST(ModelsDir, EnvironmentWinsOverVolume) {
  test::TempDir volume;
  EXPECT_EQ(resolve_models_dir("", "/data/env/", volume.path().string()), "/data/env");
}

TEST(ModelsDir, RunpodVolumeIsUsedWhenItExists) {
  test::TempDir volume;
  EXPECT_EQ(resolve_models_dir("", "", volume.path().string()), (volume.path() / "models").string());
}

TEST(ModelsDir, FallsBackToModelsInTheWorkingDirectory) {
  EXPECT_EQ(resolve_models_dir("", "", "/nonexistent-runpod-volume"), (fs::current_path() / "models").string());
}

TEST(ModelsDir, RelativePathsBecomeAbsolute) {
  EXPECT_EQ(resolve_models_dir("cache/../models2", "", ""), (fs::current_path() / "models2").string());
}

TEST(ModelsDir, ReadsModelsDirFromTheEnvironment) {
  ScopedEnv env("MODELS_DIR", "/from/env");
  EXPECT_EQ(resolve_models_dir(""), "/from/env");
  EXPECT_EQ(resolve_models_dir("/from/flag"), "/from/flag");
}

TEST(StoreOptions, ReadCivitaiKeyAndHostsFromTheEnvironment) {
  ScopedEnv key("CIVITAI_API_KEY", " abc123 \n");
  ScopedEnv hosts("CIVITAI_HOSTS", "civitai.com, 127.0.0.1:9999");
  const StoreOptions o = store_options_from_env("/m");
  EXPECT_EQ(o.models_dir, "/m");
  EXPECT_EQ(o.civitai_api_key, "abc123");
  EXPECT_EQ(o.civitai_hosts, (std::vector<std::string>{"civitai.com", "127.0.0.1:9999"}));
  EXPECT_TRUE(o.allow_network);
}

TEST(StoreOptions, HostsDefaultToCivitaiComAndKeyToEmpty) {
  ScopedEnv key("CIVITAI_API_KEY", std::nullopt);
  ScopedEnv hosts("CIVITAI_HOSTS", std::nullopt);
  const StoreOptions o = store_options_from_env("/m");
  EXPECT_EQ(o.civitai_api_key, "");
  EXPECT_EQ(o.civitai_hosts, std::vector<std::string>{"civitai.com"});
}

}  // namespace
}  // namespace sdxlw
