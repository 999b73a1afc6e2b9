#pragma once
// DPM-Solver++(2M): diffusers' DPMSolverMultistepScheduler with algorithm_type "dpmsolver++",
// solver_order 2, solver_type "midpoint", lower_order_final, final_sigmas_type "zero", SDXL
// config, with or without Karras sigmas.

#include "sampling/scheduler.h"

namespace sdxlw::sampling {

class DpmSolverMultistepScheduler : public Scheduler {
 public:
  // Throws std::invalid_argument when "leading" spacing cannot give `steps` distinct timesteps
  // (more than 999 steps without Karras sigmas).
  DpmSolverMultistepScheduler(int steps, bool use_karras_sigmas);

  // First order at step 0 and at the last step (whose target sigma is zero), second order
  // (midpoint) in between, using the data prediction kept from the previous step.
  at::Tensor step(const at::Tensor& model_output, int step, const at::Tensor& x,
                  at::Generator& generator) override;

 private:
  struct AlphaSigma {
    float alpha;
    float sigma;
    float lambda;  // log(alpha) - log(sigma)
  };
  AlphaSigma alpha_sigma(int index) const;

  at::Tensor previous_x0_;  // float32 data prediction of the previous step
};

}  // namespace sdxlw::sampling
