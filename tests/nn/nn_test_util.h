#pragma once
// Shared by the nn tests: the tiny fixture model loaded once (float32, CPU), a job's golden
// tensors, and tensor comparisons.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "io/safetensors.h"
#include "nn/sdxl_model.h"
#include "nn/tensor_io.h"
#include "support/paths.h"

namespace sdxlw::test {

// tiny_a loaded in float32 on the CPU, shared by every test of the binary.
inline const nn::SdxlModel& tiny_model() {
  static const nn::SdxlModel model = nn::load_sdxl_checkpoint(tiny_checkpoint().string(), nn::LoadOptions{});
  return model;
}

// tests/fixtures/jobs/<job>/tensors.safetensors
class JobTensors {
 public:
  explicit JobTensors(const std::string& job)
      : file_(SafetensorsFile::open(fixture("jobs/" + job + "/tensors.safetensors").string())) {}
  bool has(const std::string& name) const { return file_.find(name) != nullptr; }
  // float32 (or int64 for token ids) on CPU
  at::Tensor get(const std::string& name) const {
    const TensorInfo& info = file_.at(name);
    return nn::read_tensor(file_, info, at::kCPU, info.dtype == DType::I64 ? at::kLong : at::kFloat);
  }

 private:
  SafetensorsFile file_;
};

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return INFINITY;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// "1.9e-06": for RecordProperty
inline std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", v);
  return buf;
}

}  // namespace sdxlw::test
