// sdxl-lora-merge-bench: times merging a LoRA into SDXL-sized weights with lora::LoraSet, the
// code path the worker uses (parse + map + base copies + float32 merge + write back).
//
//   sdxl-lora-merge-bench (--keys FILE | --checkpoint FILE) [--lora FILE | --rank N]
//                         [--scale S] [--dtype fp32|fp16|bf16] [--device cpu|cuda] [--threads N]
//
// Weights: random, for every name/shape of a key list (the full-size SDXL base list is
// tests/fixtures/sdxl_base_keys_with_shapes.txt), or read from a checkpoint. Only the weights a
// LoRA can change are allocated. Random weights are drawn N(0, 1/fan_in) and rounded through fp16,
// like an fp16 checkpoint upcast to float32.
// LoRA: a file, or a synthetic kohya LoRA of rank N (default 32) covering every Linear / conv
// weight of the UNet and both text encoders, written to a temp file first.

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <string>
#include <thread>

#include "io/safetensors.h"
#include "lora/lora_set.h"
#include "nn/shape_map.h"
#include "nn/tensor_io.h"
#include "util/log.h"

namespace {

using namespace sdxlw;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: sdxl-lora-merge-bench (--keys FILE | --checkpoint FILE) [--lora FILE | --rank N]\n"
    "                             [--scale S] [--dtype fp32|fp16|bf16] [--device cpu|cuda] "
    "[--threads N]\n"
    "  --keys FILE        random weights for a key list \"name (d0, d1, ...)\" per line, e.g.\n"
    "                     tests/fixtures/sdxl_base_keys_with_shapes.txt (full-size SDXL base)\n"
    "  --checkpoint FILE  the weights of a safetensors checkpoint instead\n"
    "  --lora FILE        merge this LoRA file ...\n"
    "  --rank N           ... or a synthetic kohya LoRA of rank N on every Linear/conv weight "
    "(32)\n"
    "  --scale S          LoRA scale (1.0)\n"
    "  --dtype T          weight dtype (fp32)\n"
    "  --device D         cpu (default) or cuda\n"
    "  --threads N        CPU threads (default: every core)\n";

struct Options {
  std::string keys;
  std::string checkpoint;
  std::string lora;
  int rank = 32;
  double scale = 1.0;
  at::ScalarType dtype = at::kFloat;
  std::string device = "cpu";
  int threads = 0;
};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double peak_rss_gib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / (1024.0 * 1024.0);
}

double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

// Waits for queued device work (a scalar read synchronises the stream).
void sync(const at::Tensor& t) {
  if (t.defined() && t.is_cuda()) (void)t.flatten()[0].item<float>();
}

// Writes a kohya LoRA of rank `rank` for every target, one tensor at a time.
void write_synthetic_lora(const std::string& path, const lora::KeyMap& map, int rank) {
  std::vector<SafetensorsWriter::Entry> entries;
  for (const auto& t : map.targets()) {
    std::vector<int64_t> down = t.shape, up = {t.shape[0], rank};
    down[0] = rank;
    if (t.shape.size() == 4) up.insert(up.end(), {1, 1});
    entries.push_back({t.name + ".alpha", DType::F16, {}});
    entries.push_back({t.name + ".lora_down.weight", DType::F16, down});
    entries.push_back({t.name + ".lora_up.weight", DType::F16, up});
  }
  SafetensorsWriter writer(path, entries, {{"ss_network_dim", std::to_string(rank)}});
  at::Generator gen = at::detail::createCPUGenerator(7);
  for (const auto& e : entries) {
    at::Tensor t = e.shape.empty() ? at::full({}, rank / 2.0, at::kFloat)
                                   : at::randn(e.shape, gen, at::kFloat).mul_(0.02);
    t = t.to(at::kHalf).contiguous();
    writer.write(t.data_ptr(), t.nbytes());
  }
  writer.finish();
}

int run(const Options& o) {
  if (o.threads > 0)
    at::set_num_threads(o.threads);
  else
    at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const at::Device device(o.device);

  // Names and shapes, then the map, then only the weights a LoRA can change.
  nn::ShapeMap shapes;
  std::unique_ptr<SafetensorsFile> checkpoint;
  if (!o.checkpoint.empty()) {
    checkpoint = std::make_unique<SafetensorsFile>(SafetensorsFile::open(o.checkpoint));
    shapes = nn::shape_map(*checkpoint);
  } else {
    shapes = nn::read_key_list(o.keys);
  }
  std::deque<at::Tensor> storage;
  std::vector<nn::ParamSlot> slots;
  for (const auto& [name, shape] : shapes) {
    storage.emplace_back();
    slots.push_back({name, shape, &storage.back()});
  }
  const lora::KeyMap probe(slots);
  std::vector<bool> needed(slots.size(), false);
  double weight_bytes = 0;
  for (const auto& t : probe.targets()) {
    if (needed[t.slot]) continue;
    needed[t.slot] = true;
    int64_t n = 1;
    for (int64_t d : slots[t.slot].shape) n *= d;
    weight_bytes += static_cast<double>(n) * at::elementSize(o.dtype);
  }
  std::printf("model: %zu tensors, %zu LoRA targets in %zu weights, %.2f GiB as %s on %s\n",
              slots.size(), probe.targets().size(),
              static_cast<size_t>(std::count(needed.begin(), needed.end(), true)),
              gib(weight_bytes), c10::toString(o.dtype), o.device.c_str());
  std::fflush(stdout);

  auto start = Clock::now();
  at::Generator gen = at::detail::createCPUGenerator(42);
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!needed[i]) continue;
    const auto& shape = slots[i].shape;
    if (checkpoint) {
      *slots[i].tensor =
          nn::read_tensor(*checkpoint, checkpoint->at(slots[i].name), device, o.dtype);
    } else {
      int64_t fan_in = 1;
      for (size_t d = 1; d < shape.size(); ++d) fan_in *= shape[d];
      *slots[i].tensor = at::randn(shape, gen, at::kFloat)
                             .mul_(1.0 / std::sqrt(static_cast<double>(fan_in)))
                             .to(at::kHalf)
                             .to(device, o.dtype);
    }
  }
  std::printf("weights ready in %.0f ms (peak RSS %.2f GiB)\n", ms_since(start), peak_rss_gib());

  std::filesystem::path temp_dir;
  std::string lora_path = o.lora;
  if (lora_path.empty()) {
    temp_dir =
        std::filesystem::temp_directory_path() / ("sdxlw-lora-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(temp_dir);
    lora_path = (temp_dir / ("synthetic_rank" + std::to_string(o.rank) + ".safetensors")).string();
    start = Clock::now();
    write_synthetic_lora(lora_path, probe, o.rank);
    std::printf("synthetic rank-%d LoRA: %zu modules, %.1f MiB, written in %.0f ms\n", o.rank,
                probe.targets().size(), std::filesystem::file_size(lora_path) / 1048576.0,
                ms_since(start));
  }

  int status = 0;
  try {
    lora::LoraSet set(slots, {{"bench", lora_path, o.scale}});
    const at::Tensor& probe_weight = *slots[probe.targets().front().slot].tensor;
    auto step = [&](const char* what, const std::vector<LoraChoice>& choice) {
      const auto t = Clock::now();
      const auto applied = set.apply(choice);
      sync(probe_weight);
      const double total = ms_since(t);
      std::printf("%-44s %9.1f ms  (files %.1f ms, merge %.1f ms, %d weights)\n", what, total,
                  set.last_stats().load_ms, set.last_stats().merge_ms,
                  set.last_stats().weights_changed);
      if (!applied.empty() && applied[0].unmatched_keys > 0) {
        std::printf("  %d LoRA keys matched no weight\n", applied[0].unmatched_keys);
      }
    };
    step("first merge (parse + base copies + merge)", {{"bench", o.scale}});
    std::printf("base copies: %.2f GiB; peak RSS %.2f GiB\n", gib(set.base_copy_bytes()),
                peak_rss_gib());
    step("same set again (no-op)", {{"bench", o.scale}});
    step("switch to no LoRA (restore)", {});
    step("switch back to the LoRA (from base copies)", {{"bench", o.scale}});
    step("switch scale (restore + merge)", {{"bench", o.scale * 0.5}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sdxl-lora-merge-bench: %s\n", e.what());
    status = 1;
  }
  if (!temp_dir.empty()) std::filesystem::remove_all(temp_dir);
  std::printf("peak RSS %.2f GiB\n", peak_rss_gib());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    try {
      if (arg == "--help" || arg == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (arg == "--keys" && has_value) {
        o.keys = argv[++i];
      } else if (arg == "--checkpoint" && has_value) {
        o.checkpoint = argv[++i];
      } else if (arg == "--lora" && has_value) {
        o.lora = argv[++i];
      } else if (arg == "--rank" && has_value) {
        o.rank = std::stoi(argv[++i]);
        if (o.rank < 1) throw std::invalid_argument("rank");
      } else if (arg == "--scale" && has_value) {
        o.scale = std::stod(argv[++i]);
      } else if (arg == "--threads" && has_value) {
        o.threads = std::stoi(argv[++i]);
      } else if (arg == "--device" && has_value) {
        o.device = argv[++i];
        if (o.device != "cpu" && o.device != "cuda") throw std::invalid_argument("device");
      } else if (arg == "--dtype" && has_value) {
        const std::string t = argv[++i];
        if (t == "fp32")
          o.dtype = at::kFloat;
        else if (t == "fp16")
          o.dtype = at::kHalf;
        else if (t == "bf16")
          o.dtype = at::kBFloat16;
        else
          throw std::invalid_argument("dtype");
      } else {
        std::fprintf(stderr, "sdxl-lora-merge-bench: unknown or incomplete argument \"%s\"\n%s",
                     arg.c_str(), kUsage);
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "sdxl-lora-merge-bench: bad value for %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  if (o.keys.empty() == o.checkpoint.empty()) {
    std::fprintf(stderr, "sdxl-lora-merge-bench: give exactly one of --keys and --checkpoint\n%s",
                 kUsage);
    return 2;
  }
  init_logging("info");
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sdxl-lora-merge-bench: %s\n", e.what());
    return 1;
  }
}
