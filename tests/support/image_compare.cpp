#include "support/image_compare.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>

#include "io/png.h"

namespace sdxlw::test {

std::string ImageDiff::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%dx%d%s: max %d, mean %.4f, PSNR %.1f dB", width, height,
                same_size ? "" : " (size differs)", max_abs, mean_abs, psnr_db);
  return buf;
}

ImageDiff compare_png(const std::string& actual_png, const std::string& expected_png) {
  const DecodedImage a = decode_png(actual_png, 3);
  const DecodedImage b = decode_png(expected_png, 3);
  ImageDiff diff;
  diff.width = a.width;
  diff.height = a.height;
  diff.same_size = a.width == b.width && a.height == b.height;
  if (!diff.same_size) {
    diff.max_abs = 255;
    diff.mean_abs = 255;
    return diff;
  }
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const int d = std::abs(static_cast<int>(a.pixels[i]) - static_cast<int>(b.pixels[i]));
    if (d > diff.max_abs) diff.max_abs = d;
    sum += d;
    sum_sq += static_cast<double>(d) * d;
  }
  const double n = static_cast<double>(a.pixels.size());
  diff.mean_abs = sum / n;
  diff.psnr_db =
      sum_sq == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(255.0 * 255.0 / (sum_sq / n));
  return diff;
}

std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace sdxlw::test
