#include "sampling/guidance.h"

#include <sstream>
#include <stdexcept>

namespace sdxlw::sampling {

at::Tensor apply_cfg(const at::Tensor& eps_uncond, const at::Tensor& eps_cond,
                     double guidance_scale) {
  if (eps_uncond.sizes() != eps_cond.sizes()) {
    std::ostringstream os;
    os << "guidance: uncond output " << eps_uncond.sizes() << " and cond output "
       << eps_cond.sizes() << " differ in shape";
    throw std::invalid_argument(os.str());
  }
  return eps_uncond + (eps_cond - eps_uncond) * guidance_scale;
}

at::Tensor apply_cfg(const at::Tensor& eps_batched, double guidance_scale) {
  if (eps_batched.dim() < 1 || eps_batched.size(0) % 2 != 0) {
    std::ostringstream os;
    os << "guidance: the doubled batch needs an even first dimension, got " << eps_batched.sizes();
    throw std::invalid_argument(os.str());
  }
  const int64_t half = eps_batched.size(0) / 2;
  return apply_cfg(eps_batched.narrow(0, 0, half), eps_batched.narrow(0, half, half),
                   guidance_scale);
}

}  // namespace sdxlw::sampling
