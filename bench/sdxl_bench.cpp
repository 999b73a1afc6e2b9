// sdxl-bench: phase-by-phase timings, peak memory and arithmetic efficiency of one SDXL model on
// one device and dtype (DESIGN §7). See bench_options.cpp for the command line.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_options.h"
#include "core/engine_factory.h"
#include "engine/device.h"
#include "engine/engine_plan.h"
#include "engine/flops.h"
#include "engine/pipeline.h"
#include "engine/text_conditioning.h"
#include "engine/tiled_decode.h"
#include "nn/conditioning.h"
#include "nn/fast_ops.h"
#include "nn/sdxl_model.h"
#include "nn/shape_map.h"
#include "op_profile.h"
#include "text/clip_tokenizer.h"
#include "util/assets.h"
#include "util/log.h"
#include "util/process_info.h"

namespace sdxlw::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kKeyList = "sdxl_base_keys_with_shapes.txt";

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Seconds of one call of `fn`, waiting for the device's queued work.
double time_once(at::Device device, const std::function<void()>& fn) {
  engine::synchronize(device);
  const auto start = Clock::now();
  fn();
  engine::synchronize(device);
  return seconds_since(start);
}

struct Samples {
  std::vector<double> s;
  double best() const { return s.empty() ? 0 : *std::min_element(s.begin(), s.end()); }
  double median() const {
    if (s.empty()) return 0;
    std::vector<double> v = s;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  }
};

// The repository's key list of SDXL base, from the executable's build tree or the working directory.
std::string default_key_list() {
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / ".." / "tests" / "fixtures" / kKeyList);
    candidates.push_back(exe.parent_path() / "tests" / "fixtures" / kKeyList);
  }
  candidates.push_back(fs::path("tests") / "fixtures" / kKeyList);
  std::string looked;
  for (const auto& p : candidates) {
    if (fs::is_regular_file(p, ec)) return p.lexically_normal().string();
    looked += (looked.empty() ? "" : ", ") + p.lexically_normal().string();
  }
  throw std::runtime_error(std::string("the SDXL key list ") + kKeyList + " was not found (looked in: " + looked +
                           "); give it with --keys FILE");
}

struct Results {
  std::string model, device, device_name, dtype, plan;
  int width = 0, height = 0, steps = 0, batch = 0, threads = 0;
  bool cfg = false;
  bool negative_prompt = false;
  double load_s = 0;             // the whole Pipeline construction (tokenizer, weights, LoRAs)
  double load_checkpoint_s = 0;  // reading and converting the weights (random init for --random-full)
  int64_t load_file_bytes = 0;   // 0 for --random-full
  int64_t load_peak_rss_bytes = -1, load_rss_bytes = -1;
  int64_t weights_bytes = 0;
  double matmul_flops_per_s = 0;  // at::mm
  double linear_flops_per_s = 0;  // nn::linear, the same product as the networks run it
  int matmul_size = 0;
  double text_encode_s = 0;
  double unet_step_s = 0, unet_step_median_s = 0;
  int unet_batch = 0;
  engine::OpCount unet_ops;  // one forward, batch 1
  engine::OpCount vae_ops;   // one image
  double vae_decode_s = 0;
  double total_s = 0;        // end-to-end generation
  GenerationTimings e2e;
  int64_t peak_rss_bytes = -1, rss_bytes = -1;
  int64_t peak_rss_after_unet_bytes = -1, peak_rss_after_vae_bytes = -1;
  int64_t cuda_peak_bytes = -1;
  std::vector<OpStat> profile;

  double unet_step_flops() const { return unet_ops.flops() * unet_batch; }
  double unet_flops_per_s() const { return unet_step_s > 0 ? unet_step_flops() / unet_step_s : 0; }
  double unet_efficiency() const { return matmul_flops_per_s > 0 ? unet_flops_per_s() / matmul_flops_per_s : 0; }
  double best_product() const { return std::max(matmul_flops_per_s, linear_flops_per_s); }
  double unet_efficiency_best() const { return best_product() > 0 ? unet_flops_per_s() / best_product() : 0; }
  double vae_flops_per_s() const { return vae_decode_s > 0 ? vae_ops.flops() * batch / vae_decode_s : 0; }
};

// FLOP/s of an n³ product, best of `runs` after a warm-up: at::mm (the reference), or the
// networks' own nn::linear (on CPU float32 that is oneDNN, where at::mm is BLAS).
double matmul_rate(const engine::EnginePlan& plan, at::ScalarType dtype, int n, int runs, bool network_linear) {
  const auto opts = at::TensorOptions().dtype(dtype).device(plan.device);
  const at::Tensor a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
  at::Tensor c = at::empty({n, n}, opts);
  auto product = [&] {
    if (network_linear) {
      c = nn::linear(a, b);
    } else {
      at::mm_out(c, a, b);
    }
  };
  product();  // warm-up: library initialisation, first touch of c
  Samples t;
  for (int i = 0; i < runs; ++i) t.s.push_back(time_once(plan.device, product));
  return 2.0 * n * double(n) * n / t.best();
}

std::unique_ptr<engine::Pipeline> load_model(const BenchOptions& o, const engine::PipelineOptions& popts,
                                             Results& r) {
  const auto start = Clock::now();
  std::unique_ptr<engine::Pipeline> pipeline;
  if (o.random_full) {
    const std::string keys = o.keys.empty() ? default_key_list() : o.keys;
    nn::SdxlModel model = nn::build_sdxl_model(nn::read_key_list(keys));
    nn::init_random(model, popts.plan.load_options(), o.seed);
    r.model = "random full-size SDXL (" + keys + ")";
    pipeline = std::make_unique<engine::Pipeline>(std::move(model), "random-full", popts);
  } else {
    ModelFiles files;
    files.checkpoint_name = fs::path(o.checkpoint).filename().string();
    files.checkpoint_path = o.checkpoint;
    r.model = o.checkpoint;
    std::error_code ec;
    const auto size = fs::file_size(o.checkpoint, ec);
    if (ec) throw std::runtime_error("checkpoint \"" + o.checkpoint + "\" cannot be read: " + ec.message());
    r.load_file_bytes = static_cast<int64_t>(size);
    pipeline = std::make_unique<engine::Pipeline>(files, popts);
  }
  r.load_s = seconds_since(start);
  r.load_checkpoint_s = o.random_full ? r.load_s : pipeline->load_timings().checkpoint_s;
  const ProcessMemory mem = process_memory();
  r.load_peak_rss_bytes = mem.peak_rss_bytes;
  r.load_rss_bytes = mem.rss_bytes;
  for (const auto& slot : pipeline->model().parameters()) {
    r.weights_bytes += slot.tensor->numel() * static_cast<int64_t>(slot.tensor->element_size());
  }
  return pipeline;
}

void run(const BenchOptions& o, Results& r) {
  EngineOptions eo;
  eo.device = o.device;
  eo.dtype = o.dtype;
  eo.threads = o.threads;
  engine::PipelineOptions popts;
  popts.plan = engine::resolve_plan(eo, engine::probe_machine());
  const engine::EnginePlan& plan = popts.plan;
  const at::Device device = plan.device;
  at::set_num_threads(plan.threads);
  engine::configure_for_inference(device);
  c10::InferenceMode guard;

  r.device = device.str();
  r.device_name = engine::describe_device(device);
  r.dtype = engine::dtype_name(plan.unet_dtype);
  r.plan = plan.describe();
  r.width = o.width;
  r.height = o.height;
  r.steps = o.steps;
  r.batch = o.batch;
  r.threads = at::get_num_threads();
  r.cfg = o.guidance > 1.0;
  r.negative_prompt = !o.negative.empty();
  r.matmul_size = o.matmul_size;
  engine::reset_peak_memory(device);

  auto pipeline = load_model(o, popts, r);
  const nn::SdxlModel& model = pipeline->model();
  const int64_t multiple = pipeline->size_multiple();
  if (o.width % multiple || o.height % multiple) {
    throw std::invalid_argument("--width and --height must be multiples of " + std::to_string(multiple));
  }
  const int64_t factor = int64_t{1} << (model.config.vae.ch_mult.size() - 1);
  const int64_t lh = o.height / factor, lw = o.width / factor;

  spdlog::info("bench: matrix product {}³ in {} on {}", o.matmul_size, r.dtype, r.device);
  r.matmul_flops_per_s = matmul_rate(plan, plan.unet_dtype, o.matmul_size, o.matmul_runs, false);
  r.linear_flops_per_s = matmul_rate(plan, plan.unet_dtype, o.matmul_size, o.matmul_runs, true);

  spdlog::info("bench: text encoders");
  const ClipTokenizer tokenizer = ClipTokenizer::from_file(find_asset("bpe_simple_vocab_16e6.txt.gz"));
  engine::TextConditioning text;
  Samples text_times;
  for (int i = 0; i < 4; ++i) {  // the first run is a warm-up
    const double s = time_once(device, [&] {
      text = engine::encode_prompts(*model.te1, *model.te2, engine::tokenize_prompts(tokenizer, o.prompt, o.negative));
    });
    if (i > 0) text_times.s.push_back(s);
  }
  r.text_encode_s = text_times.best();

  const int64_t n = o.batch;
  r.unet_batch = static_cast<int>(r.cfg ? 2 * n : n);
  const int64_t tokens = text.cond_context.size(0);
  r.unet_ops = engine::unet_forward_ops(model.config.unet, lh, lw, tokens, 1);
  r.vae_ops = engine::vae_decode_ops(model.config.vae, lh, lw);
  {
    const auto uopts = at::TensorOptions().dtype(plan.unet_dtype).device(device);
    auto rows = [n](const at::Tensor& t) {  // [X...] → [n, X...]
      std::vector<int64_t> sizes = t.sizes().vec();
      sizes.insert(sizes.begin(), n);
      return t.unsqueeze(0).expand(sizes);
    };
    at::Tensor context = r.cfg ? at::cat({rows(text.uncond_context), rows(text.cond_context)})
                               : rows(text.cond_context).contiguous();
    at::Tensor pooled = r.cfg ? at::cat({rows(text.uncond_pooled), rows(text.cond_pooled)})
                              : rows(text.cond_pooled).contiguous();
    context = context.to(uopts);
    const at::Tensor adm =
        nn::sdxl_adm(pooled.to(at::kFloat), o.height, o.width, model.config.size_embed_dim).to(uopts);
    at::Tensor x = at::randn({r.unet_batch, model.config.unet.in_channels, lh, lw},
                             at::TensorOptions().dtype(at::kFloat).device(device));
    if (plan.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor t = at::full({}, 500.0, at::TensorOptions().dtype(at::kFloat).device(device));
    auto step = [&] { (void)model.unet->forward(x, t, context, adm); };
    for (int i = 0; i < o.warmup; ++i) {
      spdlog::info("bench: UNet warm-up step {}/{}", i + 1, o.warmup);
      time_once(device, step);
    }
    Samples unet_times;
    for (int i = 0; i < o.steps; ++i) {
      unet_times.s.push_back(time_once(device, step));
      spdlog::info("bench: UNet step {}/{}: {:.3f} s", i + 1, o.steps, unet_times.s.back());
    }
    r.unet_step_s = unet_times.best();
    r.peak_rss_after_unet_bytes = process_memory().peak_rss_bytes;
    r.unet_step_median_s = unet_times.median();
    if (o.profile) {
      spdlog::info("bench: profiling one UNet step");
      OpProfile profile;
      time_once(device, step);
      r.profile = profile.stats();
    }
  }

  if (o.vae_runs > 0) {
    const at::Tensor latents = at::randn({n, model.config.vae.embed_dim, lh, lw},
                                         at::TensorOptions().dtype(at::kFloat).device(device));
    Samples vae_times;
    spdlog::info("bench: VAE decode warm-up");
    (void)engine::decode_latents(*model.vae, latents, popts.tiles);
    for (int i = 0; i < o.vae_runs; ++i) {
      vae_times.s.push_back(time_once(device, [&] { (void)engine::decode_latents(*model.vae, latents, popts.tiles); }));
      spdlog::info("bench: VAE decode {}/{}: {:.3f} s", i + 1, o.vae_runs, vae_times.s.back());
    }
    r.vae_decode_s = vae_times.best();
    r.peak_rss_after_vae_bytes = process_memory().peak_rss_bytes;
  }

  if (o.end_to_end) {
    GenerationRequest request;
    request.prompt = o.prompt;
    request.negative_prompt = o.negative;
    request.width = o.width;
    request.height = o.height;
    request.steps = o.steps;
    request.guidance_scale = o.guidance;
    request.scheduler = "euler";
    request.seed = o.seed;
    request.num_images = o.batch;
    const auto start = Clock::now();
    const GenerationResult result = pipeline->generate(request, nullptr);
    r.total_s = seconds_since(start);
    r.e2e = result.timings;
  }

  const ProcessMemory mem = process_memory();
  r.peak_rss_bytes = mem.peak_rss_bytes;
  r.rss_bytes = mem.rss_bytes;
  r.cuda_peak_bytes = engine::peak_memory_bytes(device);
}

nlohmann::json to_json(const Results& r) {
  nlohmann::json j;
  j["model"] = r.model;
  j["device"] = r.device;
  j["device_name"] = r.device_name;
  j["dtype"] = r.dtype;
  j["plan"] = r.plan;
  j["width"] = r.width;
  j["height"] = r.height;
  j["steps"] = r.steps;
  j["batch"] = r.batch;
  j["cfg"] = r.cfg;
  j["unet_batch"] = r.unet_batch;
  j["threads"] = r.threads;
  j["load_s"] = r.load_s;
  j["load_checkpoint_s"] = r.load_checkpoint_s;
  j["load_file_bytes"] = r.load_file_bytes;
  j["load_bytes_per_s"] = r.load_file_bytes > 0 ? r.load_file_bytes / r.load_checkpoint_s : 0.0;
  j["load_peak_rss_bytes"] = r.load_peak_rss_bytes;
  j["load_rss_bytes"] = r.load_rss_bytes;
  j["weights_bytes"] = r.weights_bytes;
  j["text_encode_s"] = r.text_encode_s;
  j["unet_step_s"] = r.unet_step_s;
  j["unet_step_median_s"] = r.unet_step_median_s;
  j["unet_flops"] = r.unet_ops.flops();
  j["unet_attention_flops"] = 2 * r.unet_ops.attention_macs;
  j["unet_step_flops"] = r.unet_step_flops();
  j["unet_flops_per_s"] = r.unet_flops_per_s();
  j["matmul_size"] = r.matmul_size;
  j["matmul_flops_per_s"] = r.matmul_flops_per_s;
  j["unet_efficiency"] = r.unet_efficiency();
  j["linear_flops_per_s"] = r.linear_flops_per_s;
  j["unet_efficiency_vs_best_product"] = r.unet_efficiency_best();
  j["vae_decode_s"] = r.vae_decode_s;
  j["vae_decode_flops"] = r.vae_ops.flops() * r.batch;
  j["vae_flops_per_s"] = r.vae_flops_per_s();
  j["total_s"] = r.total_s;
  j["e2e_text_encode_s"] = r.e2e.text_encode_ms / 1000.0;
  j["e2e_denoise_s"] = r.e2e.denoise_ms / 1000.0;
  j["e2e_decode_s"] = r.e2e.decode_ms / 1000.0;
  j["e2e_png_s"] = r.e2e.encode_png_ms / 1000.0;
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  j["peak_rss_after_unet_bytes"] = r.peak_rss_after_unet_bytes;
  j["peak_rss_after_vae_bytes"] = r.peak_rss_after_vae_bytes;
  j["rss_bytes"] = r.rss_bytes;
  j["cuda_peak_bytes"] = r.cuda_peak_bytes;
  if (!r.profile.empty()) {
    nlohmann::json ops = nlohmann::json::array();
    for (const auto& op : r.profile) ops.push_back({{"op", op.name}, {"calls", op.calls}, {"s", op.seconds}});
    j["unet_profile"] = ops;
  }
  return j;
}

std::string rate(double flops_per_s) {
  char buf[32];
  if (flops_per_s >= 1e12) {
    std::snprintf(buf, sizeof buf, "%.1f TFLOP/s", flops_per_s / 1e12);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f GFLOP/s", flops_per_s / 1e9);
  }
  return buf;
}

void print_table(const Results& r) {
  std::printf("sdxl-bench: %s\n", r.model.c_str());
  const std::string gpu = r.device_name != r.device ? " on " + r.device_name : "";
  std::printf("  %s%s; %d×%d, batch %d, %s, %d step%s\n", r.plan.c_str(), gpu.c_str(), r.width, r.height, r.batch,
              r.cfg ? "CFG" : "no CFG", r.steps, r.steps == 1 ? "" : "s");
  std::printf("  %-22s %10s  %s\n", "phase", "time", "notes");
  std::string load_note = "weights " + format_bytes(r.weights_bytes);
  if (r.load_file_bytes > 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "; file %s in %.2f s, %.2f GB/s", format_bytes(r.load_file_bytes).c_str(),
                  r.load_checkpoint_s, r.load_file_bytes / r.load_checkpoint_s / 1e9);
    load_note += buf;
  } else {
    load_note += "; random init";
  }
  load_note += "; RSS peak " + format_bytes(r.load_peak_rss_bytes) + " / after " + format_bytes(r.load_rss_bytes);
  std::printf("  %-22s %9.2fs  %s\n", "load", r.load_s, load_note.c_str());
  std::printf("  %-22s %9.3fs  both encoders, %s\n", "text encode", r.text_encode_s,
              r.negative_prompt ? "prompt + negative prompt" : "prompt (empty negative: zeros)");
  std::printf("  %-22s %9.3fs  median %.3f s; batch %d × %.3f TFLOP = %.2f TFLOP → %s\n", "unet step",
              r.unet_step_s, r.unet_step_median_s, r.unet_batch, r.unet_ops.flops() / 1e12, r.unet_step_flops() / 1e12,
              rate(r.unet_flops_per_s()).c_str());
  std::printf("  %-22s %10s  %d³ %s at::mm %s (UNet efficiency %.0f%%); nn::linear %s (%.0f%%)\n",
              "matmul reference", "", r.matmul_size, r.dtype.c_str(), rate(r.matmul_flops_per_s).c_str(),
              100.0 * r.unet_efficiency(), rate(r.linear_flops_per_s).c_str(),
              100.0 * (r.linear_flops_per_s > 0 ? r.unet_flops_per_s() / r.linear_flops_per_s : 0));
  if (r.vae_decode_s > 0) {
    std::printf("  %-22s %9.3fs  %.2f TFLOP → %s\n", "vae decode", r.vae_decode_s, r.vae_ops.flops() * r.batch / 1e12,
                rate(r.vae_flops_per_s()).c_str());
  }
  if (r.total_s > 0) {
    std::printf("  %-22s %9.2fs  text %.2f s, denoise %.2f s, decode %.2f s, png %.2f s\n", "end-to-end", r.total_s,
                r.e2e.text_encode_ms / 1000, r.e2e.denoise_ms / 1000, r.e2e.decode_ms / 1000,
                r.e2e.encode_png_ms / 1000);
  }
  std::string mem = "RSS now " + format_bytes(r.rss_bytes) + "; weights " + format_bytes(r.weights_bytes) +
                    "; peak after the UNet steps " + format_bytes(r.peak_rss_after_unet_bytes) + ", after the VAE " +
                    format_bytes(r.peak_rss_after_vae_bytes);
  if (r.cuda_peak_bytes >= 0) mem += "; CUDA allocator peak " + format_bytes(r.cuda_peak_bytes);
  std::printf("  %-22s %10s  %s\n", "peak RSS", format_bytes(r.peak_rss_bytes).c_str(), mem.c_str());
  if (!r.profile.empty()) {
    double total = 0;
    for (const auto& op : r.profile) total += op.seconds;
    std::printf("\n  one UNet step by operator (top-level ATen calls, %.3f s in all):\n", total);
    std::printf("  %-36s %7s %9s %6s\n", "operator", "calls", "seconds", "share");
    for (const auto& op : r.profile) {
      if (op.seconds < 0.002 * total) break;
      std::printf("  %-36s %7lld %9.3f %5.1f%%\n", op.name.c_str(), static_cast<long long>(op.calls), op.seconds,
                  100.0 * op.seconds / total);
    }
  }
}

}  // namespace
}  // namespace sdxlw::bench

int main(int argc, char** argv) {
  using namespace sdxlw::bench;
  std::optional<BenchOptions> options;
  try {
    options = parse_bench_options(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sdxl-bench: %s\n%s", e.what(), kUsage);
    return 2;
  }
  if (!options) return 0;
  sdxlw::init_logging("info");
  try {
    Results results;
    run(*options, results);
    if (options->json) {
      std::printf("%s\n", to_json(results).dump(2).c_str());
    } else {
      print_table(results);
    }
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("sdxl-bench: {}", sdxlw::engine::error_message(e));
    return 1;
  }
}
