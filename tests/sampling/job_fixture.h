#pragma once
// A fixture job (tests/fixtures/jobs/<name>): job.json, meta.json and the expected tensors.

#include <ATen/ATen.h>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "support/fixture_jobs.h"
#include "support/paths.h"

namespace sdxlw::test {

class JobFixture {
 public:
  explicit JobFixture(const std::string& name)
      : name_(name),
        dir_(fixture("jobs/" + name)),
        job_(read_json(dir_ / "job.json")),
        meta_(read_json(dir_ / "meta.json")),
        tensors_(SafetensorsFile::open((dir_ / "tensors.safetensors").string())) {}

  const std::string& name() const { return name_; }
  const nlohmann::json& input() const { return job_.at("input"); }
  const nlohmann::json& meta() const { return meta_; }

  // A copy of the stored tensor (F32 or I64) in its own CPU storage.
  at::Tensor tensor(const std::string& name) const {
    const TensorInfo& info = tensors_.at(name);
    at::ScalarType type;
    switch (info.dtype) {
      case DType::F32:
        type = at::kFloat;
        break;
      case DType::I64:
        type = at::kLong;
        break;
      default:
        throw std::runtime_error(name_ + ": tensor " + name + " has an unexpected dtype");
    }
    at::Tensor out = at::empty(info.shape, at::TensorOptions(type));
    if (static_cast<uint64_t>(out.nbytes()) != info.nbytes)
      throw std::runtime_error(name_ + ": tensor " + name + " has an inconsistent size");
    std::memcpy(out.data_ptr(), tensors_.data(info), info.nbytes);  // the data may be unaligned
    return out;
  }

 private:
  // meta.json is Python's json.dump output, which writes -Infinity / NaN as bare words; they
  // become strings here.
  static nlohmann::json read_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string out;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (in_string) {
        out += c;
        if (c == '\\' && i + 1 < text.size())
          out += text[++i];
        else if (c == '"')
          in_string = false;
        continue;
      }
      if (c == '"') in_string = true;
      bool replaced = false;
      for (const char* word : {"-Infinity", "Infinity", "NaN"}) {
        if (text.compare(i, std::strlen(word), word) == 0) {
          out += std::string("\"") + word + "\"";
          i += std::strlen(word) - 1;
          replaced = true;
          break;
        }
      }
      if (!replaced) out += c;
    }
    return nlohmann::json::parse(out);
  }

  std::string name_;
  std::filesystem::path dir_;
  nlohmann::json job_;
  nlohmann::json meta_;
  SafetensorsFile tensors_;
};

// max |a - b| / max |b|, both compared in float64.
inline double max_rel_to_max_abs(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor a64 = a.to(at::kDouble).cpu();
  const at::Tensor b64 = b.to(at::kDouble).cpu();
  const double scale = b64.abs().max().item<double>();
  return (a64 - b64).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

// max over elements of |a - b| / |b| (elements where b is 0 must match exactly).
inline double max_elementwise_rel(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor a64 = a.to(at::kDouble).cpu();
  const at::Tensor b64 = b.to(at::kDouble).cpu();
  const at::Tensor diff = (a64 - b64).abs();
  const at::Tensor denom = b64.abs();
  const at::Tensor rel = at::where(denom > 0, diff / denom.clamp_min(1e-300),
                                   at::where(diff > 0, at::full_like(diff, INFINITY), diff));
  return rel.max().item<double>();
}

}  // namespace sdxlw::test
