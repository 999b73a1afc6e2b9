#include "lora_test_util.h"

#include <filesystem>

#include "io/safetensors.h"
#include "nn/tensor_io.h"
#include "support/paths.h"

namespace sdxlw::test {

void Weights::add(std::string name, at::Tensor t) {
  index_[name] = items_.size();
  items_.emplace_back(std::move(name), std::move(t));
}

std::vector<nn::ParamSlot> Weights::slots() {
  std::vector<nn::ParamSlot> out;
  for (auto& [name, t] : items_) out.push_back({name, t.sizes().vec(), &t});
  return out;
}

at::Tensor& Weights::operator[](const std::string& name) {
  const auto it = index_.find(name);
  if (it == index_.end()) throw std::out_of_range("no weight " + name);
  return items_[it->second].second;
}

Weights Weights::clone() const {
  Weights out;
  for (const auto& [name, t] : items_) out.add(name, t.clone());
  return out;
}

Weights tiny_weights() {
  static const Weights base = [] {
    const std::string path = tiny_checkpoint().string();
    if (!std::filesystem::exists(path)) {
      throw std::runtime_error("the fixture checkpoint " + path +
                               " is missing: run the ctest fixture setup (sdxl-make-checkpoint)");
    }
    const SafetensorsFile file = SafetensorsFile::open(path);
    Weights w;
    for (const TensorInfo& t : file.tensors()) {
      if (t.name.rfind("model.diffusion_model.", 0) != 0 && t.name.rfind("conditioner.", 0) != 0)
        continue;
      if (t.dtype != DType::F16) continue;  // position_ids
      w.add(t.name, nn::read_tensor(file, t, at::kCPU, at::kFloat));
    }
    return w;
  }();
  return base.clone();
}

::testing::AssertionResult same_weights(const Weights& a, const Weights& b) {
  if (a.items().size() != b.items().size())
    return ::testing::AssertionFailure() << "different counts";
  int differing = 0;
  std::string first;
  for (size_t i = 0; i < a.items().size(); ++i) {
    const auto& [name, x] = a.items()[i];
    const auto& y = b.items()[i].second;
    if (x.scalar_type() != y.scalar_type() || !at::equal(x, y)) {
      if (differing++ == 0) first = name;
    }
  }
  if (differing == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << differing << " weights differ, first " << first;
}

void write_lora(const std::string& path,
                const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                const std::map<std::string, std::string>& metadata) {
  nn::write_safetensors(path, tensors, metadata);
}

std::vector<std::pair<std::string, at::Tensor>> read_all(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const TensorInfo& t : file.tensors()) out.emplace_back(t.name, nn::copy_tensor(file, t));
  return out;
}

std::string fixture_lora_path() { return fixture("lora_a.safetensors").string(); }

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace sdxlw::test
