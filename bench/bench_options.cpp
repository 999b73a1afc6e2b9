#include "bench_options.h"

#include <cstdio>
#include <stdexcept>
#include <string>

namespace sdxlw::bench {

const char* const kUsage =
    "usage: sdxl-bench (--checkpoint FILE | --random-full [--keys FILE]) [options]\n"
    "  Times one SDXL model phase by phase: load, text encode, UNet step (with CFG), VAE decode,\n"
    "  a whole generation, peak memory, and the UNet's arithmetic rate against a matrix product\n"
    "  measured on the same device, dtype and threads.\n"
    "  --checkpoint FILE   a single-file SDXL .safetensors checkpoint\n"
    "  --random-full       full-size SDXL base with random weights built in memory (no file)\n"
    "  --keys FILE         key list for --random-full (default tests/fixtures/sdxl_base_keys_with_shapes.txt)\n"
    "  --device D          auto | cpu | cuda | cuda:N (default auto)\n"
    "  --dtype T           auto | fp32 | bf16 | fp16 (default auto: fp16 on CUDA, fp32 on CPU)\n"
    "  --width W --height H  image size in pixels (default 1024×1024)\n"
    "  --steps N           timed UNet steps and steps of the end-to-end generation (default 3)\n"
    "  --batch N           images per prompt (default 1)\n"
    "  --guidance G        CFG scale, ≤ 1 disables CFG (default 5)\n"
    "  --threads N         CPU intra-op threads, 0 = every core (default 0)\n"
    "  --warmup N          untimed UNet steps before the timed ones (default 1)\n"
    "  --prompt TEXT --negative TEXT\n"
    "  --matmul-size N     side of the reference matrix product (default 4096)\n"
    "  --matmul-runs N     best of N (default 3)\n"
    "  --vae-runs N        timed VAE decodes after an untimed one, 0 = none (default 1)\n"
    "  --no-e2e            skip the end-to-end generation\n"
    "  --profile           time every ATen operator of one UNet step and print the largest\n"
    "  --seed N            seed of the random weights and the generation (default 1)\n"
    "  --json              print one JSON object instead of the table\n";

namespace {

int to_int(const std::string& flag, const std::string& value, int min) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || value.empty() || v < min) {
    throw std::invalid_argument(flag + " needs an integer ≥ " + std::to_string(min) + ", got \"" + value + "\"");
  }
  return v;
}

double to_double(const std::string& flag, const std::string& value) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || value.empty()) {
    throw std::invalid_argument(flag + " needs a number, got \"" + value + "\"");
  }
  return v;
}

}  // namespace

std::optional<BenchOptions> parse_bench_options(int argc, char** argv) {
  BenchOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return std::nullopt;
    } else if (arg == "--checkpoint") {
      o.checkpoint = value();
    } else if (arg == "--random-full") {
      o.random_full = true;
    } else if (arg == "--keys") {
      o.keys = value();
    } else if (arg == "--device") {
      o.device = value();
    } else if (arg == "--dtype") {
      o.dtype = value();
    } else if (arg == "--width") {
      o.width = to_int(arg, value(), 8);
    } else if (arg == "--height") {
      o.height = to_int(arg, value(), 8);
    } else if (arg == "--steps") {
      o.steps = to_int(arg, value(), 1);
    } else if (arg == "--batch") {
      o.batch = to_int(arg, value(), 1);
    } else if (arg == "--guidance") {
      o.guidance = to_double(arg, value());
    } else if (arg == "--threads") {
      o.threads = to_int(arg, value(), 0);
    } else if (arg == "--warmup") {
      o.warmup = to_int(arg, value(), 0);
    } else if (arg == "--prompt") {
      o.prompt = value();
    } else if (arg == "--negative") {
      o.negative = value();
    } else if (arg == "--matmul-size") {
      o.matmul_size = to_int(arg, value(), 64);
    } else if (arg == "--matmul-runs") {
      o.matmul_runs = to_int(arg, value(), 1);
    } else if (arg == "--vae-runs") {
      o.vae_runs = to_int(arg, value(), 0);
    } else if (arg == "--no-e2e") {
      o.end_to_end = false;
    } else if (arg == "--profile") {
      o.profile = true;
    } else if (arg == "--seed") {
      o.seed = static_cast<uint64_t>(to_int(arg, value(), 0));
    } else if (arg == "--json") {
      o.json = true;
    } else {
      throw std::invalid_argument("unknown argument \"" + arg + "\"");
    }
  }
  if (o.checkpoint.empty() == !o.random_full) {
    throw std::invalid_argument("give exactly one of --checkpoint FILE and --random-full");
  }
  if (!o.keys.empty() && !o.random_full) throw std::invalid_argument("--keys only goes with --random-full");
  return o;
}

}  // namespace sdxlw::bench
