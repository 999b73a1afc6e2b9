#pragma once
// Comparing generated PNGs with the fixture PNGs (8-bit RGB), torch-free.

#include <filesystem>
#include <string>

namespace sdxlw::test {

struct ImageDiff {
  bool same_size = false;
  int width = 0, height = 0;     // of the actual image
  int max_abs = 0;               // levels, over every channel of every pixel
  double mean_abs = 0;           // levels
  double psnr_db = 0;            // infinity when identical
  std::string describe() const;  // "64×64: max 1, mean 0.0021, PSNR 71.3 dB"
};

// Decodes both PNGs to RGB and compares them channel by channel.
ImageDiff compare_png(const std::string& actual_png, const std::string& expected_png);

std::string read_file_bytes(const std::filesystem::path& path);

}  // namespace sdxlw::test
