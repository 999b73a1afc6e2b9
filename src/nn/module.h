#pragma once
// A minimal module tree whose parameter names are the checkpoint's keys.
//
// Building a tree only declares names and shapes: no tensor is allocated until a loader (or a
// random initialiser) fills the slots. So the full SDXL layout can be checked against the real key
// list without 14 GB of memory, and weights can be converted straight from the mapped file.

#include <ATen/ATen.h>

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sdxlw::nn {

// One parameter of a tree: its dotted name, the shape the architecture expects, and the slot
// that holds the tensor (undefined until loaded).
struct ParamSlot {
  std::string name;
  std::vector<int64_t> shape;
  at::Tensor* tensor = nullptr;
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter of this module and its descendants, depth-first in declaration order, names
  // joined with '.' under `prefix` ("input_blocks.1.0.in_layers.0.weight").
  std::vector<ParamSlot> parameters(const std::string& prefix = "");

 protected:
  // Declares a parameter. The returned reference stays valid for the module's lifetime.
  at::Tensor& add_param(std::string name, std::vector<int64_t> shape);

  // Declares a child; its parameters are named "<name>.<param>". A name may contain dots
  // ("in_layers.0") to mirror nn.Sequential indices without a container type.
  template <class M, class... Args>
  M& add(std::string name, Args&&... args) {
    auto child = std::make_unique<M>(std::forward<Args>(args)...);
    M& ref = *child;
    children_.emplace_back(std::move(name), std::move(child));
    return ref;
  }

 private:
  void collect(const std::string& prefix, std::vector<ParamSlot>& out);

  struct Param {
    std::string name;
    std::vector<int64_t> shape;
    at::Tensor tensor;
  };
  std::deque<Param> params_;  // deque: slot addresses stay stable as parameters are added
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

// ---- Layers with PyTorch's parameter names and semantics ----

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true);
  at::Tensor forward(const at::Tensor& x) const;  // [..., in] -> [..., out]
  at::Tensor& weight;  // [out, in]
  at::Tensor* bias = nullptr;  // [out] or null
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         bool bias = true);
  at::Tensor forward(const at::Tensor& x) const;  // [B, in, H, W] -> [B, out, H', W']
  at::Tensor& weight;  // [out, in, k, k]
  at::Tensor* bias = nullptr;
  int64_t stride;
  int64_t padding;
};

class GroupNorm : public Module {
 public:
  GroupNorm(int64_t groups, int64_t channels, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor& weight;
  at::Tensor& bias;
  int64_t groups;
  double eps;
};

class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor& weight;
  at::Tensor& bias;
  int64_t dim;
  double eps;
};

class Embedding : public Module {
 public:
  Embedding(int64_t count, int64_t dim);
  at::Tensor forward(const at::Tensor& ids) const;  // int64 [...] -> [..., dim]
  at::Tensor& weight;  // [count, dim]
};

}  // namespace sdxlw::nn
