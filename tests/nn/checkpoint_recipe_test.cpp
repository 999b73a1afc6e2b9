// Rebuilding checkpoints from recipes (fixtures README §6).

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "nn/checkpoint_recipe.h"
#include "nn_test_util.h"

namespace sdxlw::nn {
namespace {

// The first `n` entries of tiny_a.recipe.json plus its arange (position_ids) and fill (logit_scale)
// entries, as a recipe file in `dir`.
std::string partial_recipe(const test::TempDir& dir, size_t n, bool corrupt_last_digest = false) {
  std::ifstream in(test::fixture("tiny_a.recipe.json"));
  nlohmann::json doc = nlohmann::json::parse(in);
  nlohmann::json picked = nlohmann::json::array();
  for (const auto& e : doc["tensors"]) {
    const auto init = e["init"];
    if (picked.size() < n || init.contains("arange") || init.contains("fill")) picked.push_back(e);
  }
  if (corrupt_last_digest) picked.back()["sha256"] = std::string(64, '0');
  doc["tensors"] = picked;
  const std::string path = (dir / "recipe.json").string();
  std::ofstream(path) << doc.dump();
  return path;
}

TEST(CheckpointRecipe, RebuiltTensorsEqualTheFixtureCheckpointByteForByte) {
  test::TempDir dir;
  const CheckpointRecipe recipe = CheckpointRecipe::read(partial_recipe(dir, 6));
  ASSERT_EQ(recipe.tensors.size(), 8u);
  const std::string out = (dir / "part.safetensors").string();
  write_recipe_checkpoint(recipe, out);
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
  EXPECT_TRUE(checkpoint_matches_recipe(out, recipe));

  const SafetensorsFile rebuilt = SafetensorsFile::open(out);
  const SafetensorsFile tiny = SafetensorsFile::open(test::tiny_checkpoint().string());
  ASSERT_EQ(rebuilt.tensors().size(), recipe.tensors.size());
  for (const auto& info : rebuilt.tensors()) {
    const TensorInfo& ref = tiny.at(info.name);
    EXPECT_EQ(info.dtype, ref.dtype) << info.name;
    EXPECT_EQ(info.shape, ref.shape) << info.name;
    ASSERT_EQ(info.nbytes, ref.nbytes) << info.name;
    EXPECT_EQ(std::memcmp(rebuilt.data(info), tiny.data(ref), info.nbytes), 0) << info.name;
  }
}

TEST(CheckpointRecipe, DigestMismatchNamesTheTensorAndLeavesNoFile) {
  test::TempDir dir;
  const CheckpointRecipe recipe = CheckpointRecipe::read(partial_recipe(dir, 3, /*corrupt_last_digest=*/true));
  const std::string out = (dir / "bad.safetensors").string();
  try {
    write_recipe_checkpoint(recipe, out);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(recipe.tensors.back().name), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

TEST(CheckpointRecipe, MatchIsFalseForAnotherLayoutOrAMissingFile) {
  test::TempDir dir;
  const CheckpointRecipe small = CheckpointRecipe::read(partial_recipe(dir, 2));
  EXPECT_FALSE(checkpoint_matches_recipe((dir / "absent.safetensors").string(), small));
  EXPECT_FALSE(checkpoint_matches_recipe(test::tiny_checkpoint().string(), small));
  const CheckpointRecipe full = CheckpointRecipe::read(test::fixture("tiny_a.recipe.json").string());
  EXPECT_TRUE(checkpoint_matches_recipe(test::tiny_checkpoint().string(), full));
  uint64_t file_bytes = 0;
  const SafetensorsFile tiny = SafetensorsFile::open(test::tiny_checkpoint().string());
  for (const auto& info : tiny.tensors()) file_bytes += info.nbytes;
  EXPECT_EQ(full.data_bytes(), file_bytes);
}

TEST(CheckpointRecipe, MalformedEntriesAreReportedWithTheirIndex) {
  test::TempDir dir;
  const std::string path = (dir / "r.json").string();
  std::ofstream(path) << R"({"format":"sdxl-random-checkpoint-recipe/1","tensors":[
      {"name":"a","dtype":"F16","shape":[2],"init":{"randn_seed":1,"ops":[["pow",2]]},"sha256":"x"}]})";
  try {
    CheckpointRecipe::read(path);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tensor #0 (a)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pow"), std::string::npos) << msg;
  }
  std::ofstream(path) << R"({"tensors":[]})";
  EXPECT_THROW(CheckpointRecipe::read(path), std::runtime_error);
}

}  // namespace
}  // namespace sdxlw::nn
