#pragma once
// at::Tensor <-> safetensors: dtype mapping, reading tensors out of a mapped file (copying or as
// views of the mapping) and writing tensors to a new file.

#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace sdxlw::nn {

at::ScalarType scalar_type_of(DType dtype);
std::optional<DType> dtype_of(at::ScalarType type);  // nullopt for types safetensors lacks here

// True when the tensor's bytes in the mapping are aligned for its element type.
bool is_aligned(const SafetensorsFile& file, const TensorInfo& info);

// A new CPU tensor holding a copy of the file's tensor (file dtype), safe for any alignment.
at::Tensor copy_tensor(const SafetensorsFile& file, const TensorInfo& info);

// The tensor converted to `dtype` on `device`, always a fresh copy, read straight from the mapping
// (through a temporary only when misaligned). `format` applies to 4-D tensors (ChannelsLast: the
// NHWC layout convolutions run fastest in); others are always contiguous.
at::Tensor read_tensor(const SafetensorsFile& file, const TensorInfo& info, at::Device device,
                       at::ScalarType dtype, at::MemoryFormat format = at::MemoryFormat::Contiguous);

// Many tensors at once into fresh CPU tensors (what the checkpoint loader uses): all their pages
// are mapped first, on as many threads as ATen has intra-op threads, then each is converted by
// ATen's own parallel copy. The results are in the order of `reads`.
struct TensorRead {
  const TensorInfo* info = nullptr;
  at::ScalarType dtype = at::kFloat;
  at::MemoryFormat format = at::MemoryFormat::Contiguous;  // applies to 4-D tensors
};
std::vector<at::Tensor> read_tensors_cpu(const SafetensorsFile& file, const std::vector<TensorRead>& reads);

// Convenience: by name, as float32 on CPU. Throws SafetensorsError when absent.
at::Tensor read_tensor(const SafetensorsFile& file, const std::string& name);

// A CPU tensor viewing the mapping without a copy; the view holds `file` alive. Requires
// is_aligned(). Writes go to the private copy-on-write mapping, never to the file.
at::Tensor view_tensor(const std::shared_ptr<const SafetensorsFile>& file, const TensorInfo& info);

// Writes the tensors (any device / dtype safetensors knows) in the given order.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sdxlw::nn
