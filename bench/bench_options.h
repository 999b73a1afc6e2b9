#pragma once
// Command line of sdxl-bench.

#include <optional>
#include <string>

namespace sdxlw::bench {

struct BenchOptions {
  std::string checkpoint;        // --checkpoint FILE
  bool random_full = false;      // --random-full: full-size SDXL with random weights, in memory
  std::string keys;              // --keys FILE: key list for --random-full ("" = the repo's)
  std::string device = "auto";   // auto | cpu | cuda[:N]
  std::string dtype = "auto";    // auto | fp32 | bf16 | fp16
  int width = 1024;
  int height = 1024;
  int steps = 3;                 // timed UNet steps, and the steps of the end-to-end generation
  int batch = 1;                 // images per prompt (UNet batch 2·batch with CFG)
  int threads = 0;               // 0 = every core
  int warmup = 1;                // untimed UNet steps first
  double guidance = 5.0;         // ≤ 1 disables CFG
  std::string prompt = "a photograph of an astronaut riding a horse on the moon, detailed, 8k";
  std::string negative = "blurry, low quality";
  int matmul_size = 4096;        // side of the square matrix product measured for the roofline
  int matmul_runs = 3;
  int vae_runs = 1;
  bool end_to_end = true;        // --no-e2e skips the whole-generation phase
  bool profile = false;          // per-operator times of one UNet step
  bool json = false;
  uint64_t seed = 1;
};

extern const char* const kUsage;

// Parses argv; returns nullopt after printing usage for --help. Throws std::invalid_argument
// naming the bad option.
std::optional<BenchOptions> parse_bench_options(int argc, char** argv);

}  // namespace sdxlw::bench
