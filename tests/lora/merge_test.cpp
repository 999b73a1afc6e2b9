// Merging LoRAs into the weights and switching sets per request.

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "io/safetensors.h"
#include "lora/lora_set.h"
#include "lora_test_util.h"
#include "nn/tensor_io.h"
#include "support/paths.h"

namespace sdxlw {
namespace {

using lora::LoraSet;

std::vector<LoraFile> fixture_loras(double default_scale = 1.0) {
  return {{"lora_a", test::fixture_lora_path(), default_scale}};
}

// lora_a with every lora_up multiplied by -0.5 + 0.01·i and only every other module kept, so
// it touches fewer weights with other values.
std::string write_lora_b(const test::TempDir& dir) {
  auto tensors = test::read_all(test::fixture_lora_path());
  std::vector<std::pair<std::string, at::Tensor>> kept;
  std::string last_module;
  int module = -1;
  for (auto& [name, t] : tensors) {
    const std::string m = name.substr(0, name.find('.'));
    if (m != last_module) {
      ++module;
      last_module = m;
    }
    if (module % 2) continue;
    if (name.find("lora_up") != std::string::npos)
      t = (t.to(at::kFloat) * (-0.5 + 0.01 * module)).to(at::kHalf);
    kept.emplace_back(name, t);
  }
  const std::string path = (dir / "lora_b.safetensors").string();
  test::write_lora(path, kept);
  return path;
}

TEST(LoraMerge, FixtureLoraAtScale08EqualsTheKohyaFormula) {
  test::Weights base = test::tiny_weights();
  test::Weights w = base.clone();
  LoraSet set(w.slots(), fixture_loras());
  const auto applied = set.apply({{"lora_a", 0.8}});
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].name, "lora_a");
  EXPECT_EQ(applied[0].scale, 0.8);
  EXPECT_EQ(applied[0].unmatched_keys, 0);
  // 294 modules; te2's q, k and v of each of its 3 layers share one in_proj_weight.
  EXPECT_EQ(set.last_stats().weights_changed, 288);

  // W + 0.8 · (alpha / r) · (up.reshape(out, r) @ down.reshape(r, -1)).reshape(W.shape), in
  // float32 from the fp16 file tensors (fixtures/README.md §2 step 10).
  const SafetensorsFile file = SafetensorsFile::open(test::fixture_lora_path());
  auto slots = w.slots();
  std::map<std::string, at::Tensor> expected;
  for (const auto& [name, t] : base.items()) expected[name] = t.clone();
  for (const TensorInfo& t : file.tensors()) {
    if (t.name.find(".lora_down.weight") == std::string::npos) continue;
    const std::string module = t.name.substr(0, t.name.find('.'));
    const at::Tensor down = nn::read_tensor(file, module + ".lora_down.weight");
    const at::Tensor up = nn::read_tensor(file, module + ".lora_up.weight");
    const double alpha = nn::read_tensor(file, module + ".alpha").item<double>();
    const int64_t r = down.size(0);
    const lora::Target* target = set.key_map().find(module);
    ASSERT_NE(target, nullptr) << module;
    at::Tensor dst = expected[slots[target->slot].name];
    if (!target->whole()) dst = dst.narrow(0, target->row_begin, target->rows);
    const at::Tensor delta =
        at::mm(up.reshape({up.size(0), r}), down.reshape({r, -1})).reshape(dst.sizes());
    dst.add_(0.8 * (alpha / r) * delta);
  }
  int changed = 0;
  for (const auto& [name, t] : w.items()) {
    const at::Tensor& e = expected[name];
    EXPECT_LE(test::max_abs_diff(t, e), 2e-6 * std::max(1.0, e.abs().max().item<double>())) << name;
    if (!at::equal(t, base[name])) ++changed;
    EXPECT_EQ(t.scalar_type(), at::kFloat);
  }
  EXPECT_EQ(changed, 288);
}

TEST(LoraMerge, ScaleZeroIsBitIdenticalToNoLora) {
  const test::Weights base = test::tiny_weights();
  test::Weights w = base.clone();
  LoraSet set(w.slots(), fixture_loras());
  const auto applied = set.apply({{"lora_a", 0.0}});
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].scale, 0.0);
  EXPECT_TRUE(test::same_weights(w, base));

  set.apply({{"lora_a", 1.0}});
  EXPECT_FALSE(test::same_weights(w, base));
  set.apply({{"lora_a", 0.0}});
  EXPECT_TRUE(test::same_weights(w, base));
  set.apply({{"lora_a", 1.0}});
  set.apply(std::vector<LoraChoice>{});
  EXPECT_TRUE(test::same_weights(w, base));
  EXPECT_TRUE(set.applied().empty());
}

TEST(LoraMerge, SwitchingAToBToAIsBitIdenticalToLoadingAFresh) {
  test::TempDir dir;
  const std::string b_path = write_lora_b(dir);
  std::vector<LoraFile> files = {{"a", test::fixture_lora_path(), 1.0}, {"b", b_path, 1.0}};
  const test::Weights base = test::tiny_weights();

  test::Weights fresh_a = base.clone();
  LoraSet(fresh_a.slots(), files).apply({{"a", 0.7}});
  test::Weights fresh_b = base.clone();
  LoraSet(fresh_b.slots(), files).apply({{"b", 1.3}});
  test::Weights fresh_ab = base.clone();
  LoraSet(fresh_ab.slots(), files).apply({{"a", 0.7}, {"b", 1.3}});

  test::Weights w = base.clone();
  LoraSet set(w.slots(), files);
  set.apply({{"a", 0.7}});
  EXPECT_TRUE(test::same_weights(w, fresh_a));
  set.apply({{"b", 1.3}});
  EXPECT_TRUE(test::same_weights(w, fresh_b));
  set.apply({{"a", 0.7}, {"b", 1.3}});
  EXPECT_TRUE(test::same_weights(w, fresh_ab));
  set.apply({{"a", 0.7}});
  EXPECT_TRUE(test::same_weights(w, fresh_a));
  EXPECT_FALSE(test::same_weights(fresh_a, fresh_b));
}

TEST(LoraMerge, OnlyWeightsWhoseContributionsChangeAreTouched) {
  test::TempDir dir;
  const std::string b_path = write_lora_b(dir);
  test::Weights w = test::tiny_weights();
  LoraSet set(w.slots(), {{"a", test::fixture_lora_path(), 1.0}, {"b", b_path, 1.0}});
  set.apply({{"a", 1.0}});
  const int a_weights = set.last_stats().weights_changed;
  EXPECT_EQ(a_weights, 288);
  set.apply({{"a", 1.0}});
  EXPECT_EQ(set.last_stats().weights_changed, 0);
  // b touches the weights of every other module of a: only those are re-merged.
  set.apply({{"a", 1.0}, {"b", 0.5}});
  const int b_weights = set.last_stats().weights_changed;
  EXPECT_GT(b_weights, 0);
  EXPECT_LT(b_weights, a_weights);
  set.apply({{"a", 1.0}, {"b", 0.25}});
  EXPECT_EQ(set.last_stats().weights_changed, b_weights);
  set.apply({{"a", 1.0}, {"b", 0.25}});
  EXPECT_EQ(set.last_stats().weights_changed, 0);
  set.apply({{"a", 0.5}, {"b", 0.25}});
  EXPECT_EQ(set.last_stats().weights_changed, a_weights);
}

TEST(LoraMerge, DefaultSetIsModelsJsonScales) {
  const test::Weights base = test::tiny_weights();
  test::Weights w = base.clone();
  LoraSet set(w.slots(), fixture_loras(0.8));
  ASSERT_EQ(set.default_choice().size(), 1u);
  EXPECT_EQ(set.default_choice()[0].scale, 0.8);
  const auto applied = set.apply(std::optional<std::vector<LoraChoice>>{});
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].scale, 0.8);

  test::Weights explicit_w = base.clone();
  LoraSet(explicit_w.slots(), fixture_loras(1.0)).apply({{"lora_a", 0.8}});
  EXPECT_TRUE(test::same_weights(w, explicit_w));
}

TEST(LoraMerge, HalfPrecisionWeightsAreMergedInFloat32AndRoundedOnce) {
  test::Weights base = test::tiny_weights();
  test::Weights half;
  for (const auto& [name, t] : base.items()) half.add(name, t.to(at::kHalf));
  const test::Weights half_base = half.clone();
  test::Weights fp32 = base.clone();
  LoraSet(fp32.slots(), fixture_loras()).apply({{"lora_a", 0.8}});

  LoraSet set(half.slots(), fixture_loras());
  set.apply({{"lora_a", 0.8}});
  for (const auto& [name, t] : half.items()) {
    ASSERT_EQ(t.scalar_type(), at::kHalf) << name;
    // fp16 base values are exact in float32, so the float32 merge rounded once must match.
    EXPECT_TRUE(at::equal(t, fp32[name].to(at::kHalf))) << name;
  }
  set.apply(std::vector<LoraChoice>{});
  EXPECT_TRUE(test::same_weights(half, half_base));
}

TEST(LoraMerge, BaseCopiesOfFloat32WeightsFromAnFp16CheckpointTakeHalfTheMemory) {
  test::Weights w = test::tiny_weights();
  LoraSet set(w.slots(), fixture_loras());
  set.apply({{"lora_a", 1.0}});
  int64_t touched_bytes = 0;
  auto params = w.slots();
  // Only the weights lora_a touches are copied, each at 2 bytes per element.
  const lora::AdapterFile file = lora::parse_adapter_file(test::fixture_lora_path());
  std::set<size_t> touched;
  for (const auto& m : file.modules) touched.insert(set.key_map().find(m.name)->slot);
  for (size_t s : touched) touched_bytes += params[s].tensor->numel() * 2;
  EXPECT_EQ(set.base_copy_bytes(), touched_bytes);
}

}  // namespace
}  // namespace sdxlw
