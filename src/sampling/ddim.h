#pragma once
// DDIM with eta 0: diffusers' DDIMScheduler with the SDXL config (leading spacing,
// set_alpha_to_one false: the step after the last timestep uses alpha-bar[0]).

#include "sampling/scheduler.h"

namespace sdxlw::sampling {

class DdimScheduler : public Scheduler {
 public:
  explicit DdimScheduler(int steps);

  // x_prev = sqrt(a_prev) * x0 + sqrt(1 - a_prev) * eps with x0 = (x - sqrt(1 - a) * eps) /
  // sqrt(a).
  at::Tensor step(const at::Tensor& model_output, int step, const at::Tensor& x,
                  at::Generator& generator) override;

 private:
  std::vector<float> alpha_prod_;  // [S+1] alpha-bar at each step's timestep, then the final one
};

}  // namespace sdxlw::sampling
