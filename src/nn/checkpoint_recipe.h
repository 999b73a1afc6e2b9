#pragma once
// Random checkpoints rebuilt bit-exactly from a recipe (tests/fixtures/README.md §6) instead of
// being committed: every tensor is randn from its own seeded CPU generator, scaled, cast, and
// checked against its SHA-256.

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"
#include "nn/shape_map.h"

namespace sdxlw::nn {

struct RecipeTensor {
  enum class Init { Randn, Arange, Fill };
  std::string name;
  DType dtype = DType::F16;
  Shape shape;
  Init init = Init::Randn;
  uint64_t seed = 0;                              // Randn
  std::vector<std::pair<std::string, double>> ops;  // Randn: ("mul" | "div" | "add", k) in order
  int64_t arange = 0;                             // Arange: 0..n−1
  double fill = 0.0;                              // Fill: a float32 scalar
  std::string sha256;                             // of the raw little-endian bytes

  uint64_t nbytes() const;
  // The tensor in `dtype` on CPU, contiguous.
  at::Tensor make() const;
};

struct CheckpointRecipe {
  std::string config;  // "tiny_a", "full", ...
  std::vector<RecipeTensor> tensors;

  // Throws std::runtime_error naming the file and the entry of any malformed field.
  static CheckpointRecipe read(const std::string& path);
  ShapeMap shapes() const;
  uint64_t data_bytes() const;
};

// True when `path` is a readable safetensors file whose tensor names, dtypes and shapes are
// exactly the recipe's (the data is not read).
bool checkpoint_matches_recipe(const std::string& path, const CheckpointRecipe& recipe);

// Builds every tensor in order, verifies its SHA-256 and streams it to `out + ".tmp"`, which is
// renamed to `out` at the end (one tensor in memory at a time). Progress goes to the log. Throws
// std::runtime_error on a digest mismatch (naming the tensor) or an I/O failure; the partial
// file is removed.
void write_recipe_checkpoint(const CheckpointRecipe& recipe, const std::string& out);

}  // namespace sdxlw::nn
