#pragma once
// Shared helpers for the LoRA tests: float32 copies of the fixture checkpoint's weights exposed as
// ParamSlots (the way the pipeline hands its module tree over), small synthetic models, and LoRA
// files written into temp dirs.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/model_files.h"
#include "nn/module.h"

namespace sdxlw::test {

// Named tensors that own their storage; slots() points into them.
class Weights {
 public:
  void add(std::string name, at::Tensor t);
  std::vector<nn::ParamSlot> slots();
  at::Tensor& operator[](const std::string& name);
  const std::deque<std::pair<std::string, at::Tensor>>& items() const { return items_; }
  Weights clone() const;
  bool has(const std::string& name) const { return index_.count(name) > 0; }

 private:
  std::deque<std::pair<std::string, at::Tensor>> items_;
  std::map<std::string, size_t> index_;
};

// The UNet and text-encoder weights of the fixture checkpoint (tiny_checkpoint()), float32;
// read once per test binary, a fresh copy per call.
Weights tiny_weights();

// Every tensor is bit-identical (same dtype, shape and bytes).
::testing::AssertionResult same_weights(const Weights& a, const Weights& b);

// Writes `tensors` (CPU, any float dtype) as a safetensors LoRA file.
void write_lora(const std::string& path,
                const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                const std::map<std::string, std::string>& metadata = {});

// Every tensor of a safetensors file, in file order, as stored.
std::vector<std::pair<std::string, at::Tensor>> read_all(const std::string& path);

std::string fixture_lora_path();  // tests/fixtures/lora_a.safetensors

double max_abs_diff(const at::Tensor& a, const at::Tensor& b);

}  // namespace sdxlw::test
