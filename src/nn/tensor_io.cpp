#include "nn/tensor_io.h"

#include <cstring>
#include <stdexcept>

namespace sdxlw::nn {

at::ScalarType scalar_type_of(DType dtype) {
  switch (dtype) {
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F32: return at::kFloat;
    case DType::F64: return at::kDouble;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
  }
  throw std::invalid_argument("unknown safetensors dtype");
}

std::optional<DType> dtype_of(at::ScalarType type) {
  switch (type) {
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kFloat: return DType::F32;
    case at::kDouble: return DType::F64;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::BOOL;
    default: return std::nullopt;
  }
}

bool is_aligned(const SafetensorsFile& file, const TensorInfo& info) {
  return reinterpret_cast<uintptr_t>(file.data(info)) % dtype_size(info.dtype) == 0;
}

at::Tensor copy_tensor(const SafetensorsFile& file, const TensorInfo& info) {
  at::Tensor out = at::empty(info.shape, at::TensorOptions().dtype(scalar_type_of(info.dtype)));
  if (info.nbytes) std::memcpy(out.data_ptr(), file.data(info), info.nbytes);
  return out;
}

at::Tensor read_tensor(const SafetensorsFile& file, const TensorInfo& info, at::Device device,
                       at::ScalarType dtype) {
  const auto src = scalar_type_of(info.dtype);
  if (!is_aligned(file, info)) return copy_tensor(file, info).to(device, dtype);
  const at::Tensor view = at::from_blob(file.data(info), info.shape, at::TensorOptions().dtype(src));
  return view.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
}

at::Tensor read_tensor(const SafetensorsFile& file, const std::string& name) {
  return read_tensor(file, file.at(name), at::kCPU, at::kFloat);
}

at::Tensor view_tensor(const std::shared_ptr<const SafetensorsFile>& file, const TensorInfo& info) {
  if (!is_aligned(*file, info)) {
    throw std::invalid_argument("tensor " + info.name + " is not aligned in " + file->path());
  }
  std::shared_ptr<const SafetensorsFile> keep = file;
  return at::from_blob(file->data(info), info.shape, [keep](void*) {},
                       at::TensorOptions().dtype(scalar_type_of(info.dtype)));
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsWriter::Entry> entries;
  for (const auto& [name, t] : tensors) {
    const auto dtype = dtype_of(t.scalar_type());
    if (!dtype) throw std::invalid_argument("tensor " + name + ": its dtype cannot be stored in safetensors");
    entries.push_back({name, *dtype, t.sizes().vec()});
  }
  SafetensorsWriter writer(path, std::move(entries), metadata);
  for (const auto& [name, t] : tensors) {
    const at::Tensor c = t.to(at::kCPU).contiguous();
    writer.write(c.data_ptr(), c.numel() * c.element_size());
  }
  writer.finish();
}

}  // namespace sdxlw::nn
