#include "nn/tensor_io.h"

#include <ATen/Parallel.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>

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

namespace {

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

// madvise on the whole pages inside [p, p + n). MADV_POPULATE_WRITE maps them in one system call
// instead of one page fault per page on first write: in a VM each fault costs microseconds, which
// made fresh weights cost more to fault in than to convert. Best effort (older kernels refuse it;
// the writes then fault as usual).
void advise(void* p, size_t n, int advice) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, advice);
}

constexpr size_t kPopulateBytes = size_t{4} << 20;

// Maps every destination page first, on one plain thread per intra-op thread (this is kernel
// work, and at::parallel_for is serial in code built without OpenMP, as ours is), then converts
// tensor by tensor, each copy spread over the intra-op threads by ATen itself. Mapping fresh
// pages is the larger part of a load: more than the conversion on this kind of VM.
void convert_all(const std::vector<at::Tensor>& sources, const std::vector<at::Tensor>& outs) {
  struct Range {
    uint8_t* p;
    size_t n;
  };
  std::vector<Range> ranges;
  for (const at::Tensor& out : outs) {
    auto* p = static_cast<uint8_t*>(out.data_ptr());
    const size_t n = static_cast<size_t>(out.numel()) * out.element_size();
    // 2 MiB pages where the kernel leaves the choice to us (THP "madvise" mode): 512× fewer pages.
    advise(p, n, MADV_HUGEPAGE);
    for (size_t b = 0; b < n; b += kPopulateBytes) ranges.push_back({p + b, std::min(kPopulateBytes, n - b)});
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < ranges.size(); i = next++) advise(ranges[i].p, ranges[i].n, MADV_POPULATE_WRITE);
  };
  const size_t helpers = std::min<size_t>(std::max(1, at::get_num_threads()) - 1, ranges.size() / 2);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < helpers; ++i) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  for (size_t t = 0; t < outs.size(); ++t) outs[t].copy_(sources[t]);
}

at::Tensor empty_like_file(const TensorInfo& info, at::ScalarType dtype, at::MemoryFormat format) {
  const bool permute = format != at::MemoryFormat::Contiguous && info.shape.size() == 4;
  return at::empty(info.shape, at::TensorOptions().dtype(dtype), permute ? format : at::MemoryFormat::Contiguous);
}

}  // namespace

at::Tensor read_tensor(const SafetensorsFile& file, const TensorInfo& info, at::Device device,
                       at::ScalarType dtype, at::MemoryFormat format) {
  const auto src = scalar_type_of(info.dtype);
  const bool permute = format != at::MemoryFormat::Contiguous && info.shape.size() == 4;
  if (!is_aligned(file, info)) {
    const at::Tensor t = copy_tensor(file, info).to(device, dtype);
    return permute ? t.contiguous(format) : t;
  }
  const at::Tensor view = at::from_blob(file.data(info), info.shape, at::TensorOptions().dtype(src));
  if (device.is_cpu()) {
    at::Tensor out = empty_like_file(info, dtype, format);
    convert_all({view}, {out});
    return out;
  }
  // Upload in the file's dtype and convert on the device: the CPU conversion is the slow half.
  const at::Tensor uploaded = view.to(device, src, /*non_blocking=*/false, /*copy=*/true);
  const at::Tensor converted = src == dtype ? uploaded : uploaded.to(dtype);
  return permute ? converted.contiguous(format) : converted;
}

std::vector<at::Tensor> read_tensors_cpu(const SafetensorsFile& file, const std::vector<TensorRead>& reads) {
  std::vector<at::Tensor> sources, outs;
  for (const TensorRead& r : reads) {
    const TensorInfo& info = *r.info;
    sources.push_back(is_aligned(file, info)
                          ? at::from_blob(file.data(info), info.shape, at::TensorOptions().dtype(scalar_type_of(info.dtype)))
                          : copy_tensor(file, info));
    outs.push_back(empty_like_file(info, r.dtype, r.format));
  }
  convert_all(sources, outs);
  return outs;
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
