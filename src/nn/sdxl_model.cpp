#include "nn/sdxl_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <stdexcept>

#include "nn/checkpoint_family.h"
#include "nn/tensor_io.h"

namespace sdxlw::nn {

namespace {

constexpr size_t kListCap = 20;
constexpr uint64_t kLoadWindowBytes = uint64_t{256} << 20;  // of the file, converted at once on CPU

bool is_float(DType d) { return d == DType::F16 || d == DType::BF16 || d == DType::F32 || d == DType::F64; }

std::string gb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(bytes) / 1e9);
  return buf;
}

void append_list(std::string& msg, const std::string& one, const std::string& many,
                 const std::vector<std::string>& items) {
  if (items.empty()) return;
  msg += "\n  " + std::to_string(items.size()) + " " + (items.size() == 1 ? one : many) + ":";
  for (size_t i = 0; i < items.size() && i < kListCap; ++i) msg += "\n    " + items[i];
  if (items.size() > kListCap) msg += "\n    ... and " + std::to_string(items.size() - kListCap) + " more";
}

// Share of the file's tensor data already in the page cache (mincore), or −1 when unknown: a
// load from disk is several times slower than one from memory, and the log should say which.
double page_cache_fraction(const SafetensorsFile& file) {
  const auto& tensors = file.tensors();
  if (tensors.empty()) return -1;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(file.data(tensors.front())) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(file.data(tensors.back())) + tensors.back().nbytes;
  if (end <= begin) return -1;
  std::vector<unsigned char> resident((end - begin + page - 1) / page);
  if (::mincore(reinterpret_cast<void*>(begin), end - begin, resident.data()) != 0) return -1;
  size_t in_cache = 0;
  for (unsigned char r : resident) in_cache += r & 1;
  return static_cast<double>(in_cache) / static_cast<double>(resident.size());
}

// A network's parameters with full keys and the dtype they are loaded in.
struct NetSlots {
  std::vector<ParamSlot> slots;
  at::ScalarType dtype;
  at::MemoryFormat format;  // of the 4-D weights
};

std::vector<NetSlots> network_slots(const SdxlModel& m, const LoadOptions& o) {
  const auto contiguous = at::MemoryFormat::Contiguous;
  const auto convs = o.channels_last ? at::MemoryFormat::ChannelsLast : contiguous;
  return {{m.te1->parameters(kTe1Prefix), o.text_dtype, contiguous},
          {m.te2->parameters(kTe2Prefix), o.text_dtype, contiguous},
          {m.unet->parameters(kUNetPrefix), o.unet_dtype, convs},
          {m.vae->parameters(kVaePrefix), o.vae_dtype, convs}};
}

}  // namespace

std::vector<ParamSlot> SdxlModel::parameters() const {
  std::vector<ParamSlot> out = te1->parameters(kTe1Prefix);
  for (auto&& part : {te2->parameters(kTe2Prefix), unet->parameters(kUNetPrefix), vae->parameters(kVaePrefix)}) {
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

SdxlModel build_sdxl_model(const SdxlConfig& config) {
  SdxlModel m;
  m.config = config;
  m.te1 = std::make_unique<ClipTextModel>(config.te1);
  m.te2 = std::make_unique<OpenClipTextModel>(config.te2);
  m.unet = std::make_unique<UNetModel>(config.unet);
  m.vae = std::make_unique<VaeModel>(config.vae);
  spdlog::info("nn: te1 (CLIP-L): {}", config.te1.describe());
  spdlog::info("nn: te2 (OpenCLIP bigG): {}", config.te2.describe());
  spdlog::info("nn: unet: {} size_embed={}", config.unet.describe(), config.size_embed_dim);
  spdlog::info("nn: vae: {} scale={}", config.vae.describe(), config.vae.scaling_factor);
  return m;
}

SdxlModel build_sdxl_model(const ShapeMap& shapes) { return build_sdxl_model(SdxlConfig::detect(shapes)); }

void check_checkpoint_tensors(const SdxlModel& model, const ShapeMap& file_shapes, const std::string& path,
                              const std::map<std::string, DType>& file_dtypes) {
  std::vector<std::string> missing, unexpected, misshaped, wrong_dtype;
  std::set<std::string> expected;
  for (const auto& slot : model.parameters()) {
    expected.insert(slot.name);
    const auto it = file_shapes.find(slot.name);
    if (it == file_shapes.end()) {
      missing.push_back(slot.name + " " + shape_str(slot.shape));
      continue;
    }
    if (it->second != slot.shape) {
      misshaped.push_back(slot.name + " is " + shape_str(it->second) + ", expected " + shape_str(slot.shape));
    }
    const auto dt = file_dtypes.find(slot.name);
    if (dt != file_dtypes.end() && !is_float(dt->second)) {
      wrong_dtype.push_back(slot.name + " is " + dtype_name(dt->second));
    }
  }
  for (const auto& [name, shape] : file_shapes) {
    if (!expected.count(name) && !is_known_unused_key(name)) unexpected.push_back(name + " " + shape_str(shape));
  }
  if (missing.empty() && unexpected.empty() && misshaped.empty() && wrong_dtype.empty()) return;
  std::string msg = "checkpoint \"" + path + "\" does not match the SDXL layout detected from its shapes (unet " +
                    model.config.unet.describe() + "):";
  append_list(msg, "missing tensor", "missing tensors", missing);
  append_list(msg, "unexpected tensor", "unexpected tensors", unexpected);
  append_list(msg, "tensor with the wrong shape", "tensors with the wrong shape", misshaped);
  append_list(msg, "tensor that is not floating point", "tensors that are not floating point", wrong_dtype);
  throw std::runtime_error(msg);
}

SdxlModel load_sdxl_checkpoint(const std::string& path, const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  auto file = std::make_shared<const SafetensorsFile>(SafetensorsFile::open(path));
  const ShapeMap shapes = shape_map(*file);
  std::map<std::string, DType> dtypes;
  for (const auto& t : file->tensors()) dtypes.emplace(t.name, t.dtype);

  check_sdxl_base_family(shapes, path);
  SdxlModel model;
  try {
    model = build_sdxl_model(shapes);
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint \"" + path + "\": " + e.what());
  }
  check_checkpoint_tensors(model, shapes, path, dtypes);

  struct Job {
    ParamSlot slot;
    const TensorInfo* info;
    at::ScalarType dtype;
    at::MemoryFormat format;
  };
  std::vector<Job> jobs;
  for (auto& net : network_slots(model, options)) {
    for (auto& slot : net.slots) {
      const bool permute = net.format != at::MemoryFormat::Contiguous && slot.shape.size() == 4;
      jobs.push_back({slot, &file->at(slot.name), net.dtype, permute ? net.format : at::MemoryFormat::Contiguous});
    }
  }
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.info->offset < b.info->offset; });
  const double cached = page_cache_fraction(*file);
  file->prefetch();

  uint64_t file_bytes = 0, memory_bytes = 0;
  size_t views = 0;
  // On CPU the copies go in windows of the file, converted together (read_tensors_cpu), after
  // which the window's pages are dropped from the process: resident memory never holds the file
  // and the weights at once.
  std::vector<const Job*> window;
  auto flush = [&] {
    std::vector<TensorRead> reads;
    for (const Job* job : window) reads.push_back({job->info, job->dtype, job->format});
    std::vector<at::Tensor> tensors = read_tensors_cpu(*file, reads);
    for (size_t i = 0; i < window.size(); ++i) {
      memory_bytes += tensors[i].numel() * tensors[i].element_size();
      *window[i]->slot.tensor = std::move(tensors[i]);
      file->release(*window[i]->info);
    }
    window.clear();
  };
  uint64_t window_bytes = 0;
  for (const auto& job : jobs) {
    const TensorInfo& info = *job.info;
    file_bytes += info.nbytes;
    const bool keep_view = options.keep_mapped_views && options.device.is_cpu() &&
                           scalar_type_of(info.dtype) == job.dtype && job.format == at::MemoryFormat::Contiguous &&
                           is_aligned(*file, info);
    if (keep_view) {
      *job.slot.tensor = view_tensor(file, info);
      ++views;
    } else if (options.device.is_cpu()) {
      window.push_back(&job);
      window_bytes += info.nbytes;
      if (window_bytes >= kLoadWindowBytes) {
        flush();
        window_bytes = 0;
      }
    } else {
      *job.slot.tensor = read_tensor(*file, info, options.device, job.dtype, job.format);
      file->release(info);
      memory_bytes += job.slot.tensor->numel() * job.slot.tensor->element_size();
    }
  }
  flush();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string cache = cached < 0 ? "" : fmt::format(", {:.0f}% of it in the page cache", 100 * cached);
  spdlog::info("nn: loaded {} tensors from \"{}\" ({} in the file{}, {} copied to {} as text {} / unet {} / vae {}, "
               "{} kept as views of the mapping) in {:.2f} s, {:.2f} GB/s",
               jobs.size(), path, gb(file_bytes), cache, gb(memory_bytes), options.device.str(),
               c10::toString(options.text_dtype), c10::toString(options.unet_dtype),
               c10::toString(options.vae_dtype), views, secs, secs > 0 ? file_bytes / secs / 1e9 : 0.0);
  return model;
}

void init_random(SdxlModel& model, const LoadOptions& options, uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  struct Slot {
    ParamSlot slot;
    at::ScalarType dtype;
    at::MemoryFormat format;
  };
  std::vector<Slot> slots;
  for (auto& net : network_slots(model, options)) {
    for (auto& slot : net.slots) {
      slots.push_back({slot, net.dtype, slot.shape.size() == 4 ? net.format : at::MemoryFormat::Contiguous});
    }
  }
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(options.device);
  // Each tensor has its own generator, so the values do not depend on the thread count.
  auto fill = [&](size_t i, at::Generator gen) {
    const ParamSlot& slot = slots[i].slot;
    const std::string& name = slot.name;
    const auto ends_with = [&name](const std::string& s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    at::Tensor t;
    if (ends_with("bias")) {
      t = at::empty(slot.shape, f32).normal_(0.0, 0.02, gen);
    } else if (slot.shape.size() == 1) {
      t = at::ones(slot.shape, f32);  // GroupNorm / LayerNorm weights
    } else {
      int64_t fan_in = 1;
      if (ends_with(".text_projection")) {
        fan_in = slot.shape[0];  // used as x @ P
      } else {
        for (size_t d = 1; d < slot.shape.size(); ++d) fan_in *= slot.shape[d];
      }
      t = at::empty(slot.shape, f32).normal_(0.0, 1.0 / std::sqrt(static_cast<double>(fan_in)), gen);
    }
    if (slots[i].dtype == at::kFloat && slots[i].format == at::MemoryFormat::Contiguous) {
      *slot.tensor = t;
    } else {
      *slot.tensor = at::empty(slot.shape, t.options().dtype(slots[i].dtype), slots[i].format).copy_(t);
    }
  };
  auto tensor_seed = [seed](size_t i) { return seed ^ (0x9E3779B97F4A7C15ull * (i + 1)); };
  if (options.device.is_cpu()) {
    at::parallel_for(0, static_cast<int64_t>(slots.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) fill(i, at::make_generator<at::CPUGeneratorImpl>(tensor_seed(i)));
    });
  } else {
    for (size_t i = 0; i < slots.size(); ++i) {
      at::Generator gen = at::globalContext().defaultGenerator(options.device).clone();
      gen.set_current_seed(tensor_seed(i));
      fill(i, gen);
    }
  }
  uint64_t bytes = 0;
  for (const auto& s : slots) bytes += s.slot.tensor->numel() * s.slot.tensor->element_size();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("nn: random weights (seed {}) on {}: {} tensors, {} in {:.2f} s", seed, options.device.str(),
               slots.size(), gb(bytes), secs);
}

}  // namespace sdxlw::nn
