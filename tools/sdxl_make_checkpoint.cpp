// sdxl-make-checkpoint: rebuilds a random SDXL-layout checkpoint from its recipe
// (tests/fixtures/README.md §6), verifying every tensor's SHA-256.
//   sdxl-make-checkpoint --recipe FILE --out FILE [--if-missing]

#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>

#include <spdlog/spdlog.h>

#include "nn/checkpoint_recipe.h"
#include "util/log.h"

namespace {

constexpr const char* kUsage =
    "usage: sdxl-make-checkpoint --recipe FILE --out FILE [--if-missing]\n"
    "  Rebuilds the safetensors checkpoint a recipe describes (written to FILE.tmp, then renamed).\n"
    "  --if-missing  do nothing when FILE exists with the recipe's tensor names, dtypes and shapes\n";

}  // namespace

int main(int argc, char** argv) {
  std::string recipe_path, out;
  bool if_missing = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--recipe" || arg == "--out") && i + 1 < argc) {
      (arg == "--recipe" ? recipe_path : out) = argv[++i];
    } else if (arg == "--if-missing") {
      if_missing = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "sdxl-make-checkpoint: unknown or incomplete argument \"%s\"\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  if (recipe_path.empty() || out.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  sdxlw::init_logging("info");
  try {
    const auto recipe = sdxlw::nn::CheckpointRecipe::read(recipe_path);
    if (if_missing && std::filesystem::exists(out)) {
      if (sdxlw::nn::checkpoint_matches_recipe(out, recipe)) {
        spdlog::info("nn: \"{}\" already matches recipe \"{}\", nothing to do", out, recipe_path);
        return 0;
      }
      spdlog::warn("nn: \"{}\" exists but does not match recipe \"{}\": rebuilding it", out, recipe_path);
    }
    sdxlw::nn::write_recipe_checkpoint(recipe, out);
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("sdxl-make-checkpoint: {}", e.what());
    return 1;
  }
}
