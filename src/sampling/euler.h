#pragma once
// Euler and Euler-ancestral samplers: diffusers' EulerDiscreteScheduler and
// EulerAncestralDiscreteScheduler with the SDXL config (leading spacing, linear interpolation).

#include "sampling/scheduler.h"

namespace sdxlw::sampling {

// Shared by both: sigma-space schedule, x / sqrt(sigma^2 + 1) model input, init sigma
// sqrt(sigma_max^2 + 1).
class EulerFamilyScheduler : public Scheduler {
 public:
  at::Tensor scale_model_input(const at::Tensor& x, int step) const override;

 protected:
  EulerFamilyScheduler(std::string name, int steps);
};

class EulerScheduler : public EulerFamilyScheduler {
 public:
  explicit EulerScheduler(int steps);
  // x + (x - x0) / sigma * (sigma_next - sigma) with x0 = x - sigma * eps (s_churn 0). diffusers
  // draws one (unused) noise tensor per step; so does this, keeping the generator in step.
  at::Tensor step(const at::Tensor& model_output, int step, const at::Tensor& x,
                  at::Generator& generator) override;
};

class EulerAncestralScheduler : public EulerFamilyScheduler {
 public:
  explicit EulerAncestralScheduler(int steps);
  // Euler step to sigma_down, then + noise * sigma_up (noise from the generator every step).
  at::Tensor step(const at::Tensor& model_output, int step, const at::Tensor& x,
                  at::Generator& generator) override;
};

}  // namespace sdxlw::sampling
