#include "engine/image_output.h"

#include <stdexcept>

#include "io/png.h"

namespace sdxlw::engine {

at::Tensor to_rgb8(const at::Tensor& image) {
  if (image.dim() != 4 || image.size(1) != 3) throw std::invalid_argument("to_rgb8: expected an [N, 3, H, W] image");
  const at::Tensor x = image.to(at::kFloat);
  const at::Tensor levels = x.div(2).add_(0.5).clamp_(0, 1).mul_(255).round_();
  return levels.to(at::kByte).permute({0, 2, 3, 1}).contiguous().cpu();
}

std::vector<std::string> encode_pngs(const at::Tensor& rgb8) {
  if (rgb8.dim() != 4 || rgb8.size(3) != 3 || rgb8.scalar_type() != at::kByte || !rgb8.device().is_cpu()) {
    throw std::invalid_argument("encode_pngs: expected a uint8 [N, H, W, 3] CPU tensor");
  }
  const at::Tensor pixels = rgb8.contiguous();
  std::vector<std::string> out;
  for (int64_t i = 0; i < pixels.size(0); ++i) {
    out.push_back(encode_png_rgb8(pixels[i].data_ptr<uint8_t>(), static_cast<int>(pixels.size(2)),
                                  static_cast<int>(pixels.size(1))));
  }
  return out;
}

}  // namespace sdxlw::engine
