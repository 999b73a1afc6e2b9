#include "sampling/euler.h"

#include <algorithm>
#include <cmath>

#include "sampling/noise_schedule.h"

namespace sdxlw::sampling {

namespace {

// (sigma^2 + 1)^0.5 in float32, as the 0-dim torch tensor math of diffusers.
float input_divisor(float sigma) { return std::sqrt(sigma * sigma + 1.0f); }

}  // namespace

EulerFamilyScheduler::EulerFamilyScheduler(std::string name, int steps)
    : Scheduler(std::move(name), steps) {
  const TrainingSchedule& train = TrainingSchedule::sdxl();
  std::vector<float> timesteps;
  std::vector<float> sigmas;
  for (int64_t t : leading_timesteps(train.num_train_timesteps, steps, /*dpm_solver=*/false)) {
    timesteps.push_back(static_cast<float>(t));
    sigmas.push_back(static_cast<float>(train.interp_sigma(static_cast<double>(t))));
  }
  const float sigma_max = *std::max_element(sigmas.begin(), sigmas.end());
  sigmas.push_back(0.0f);
  set_schedule(timesteps, sigmas, input_divisor(sigma_max));
}

at::Tensor EulerFamilyScheduler::scale_model_input(const at::Tensor& x, int step) const {
  Scheduler::scale_model_input(x, step);
  return x.div(static_cast<double>(input_divisor(sigma_values_[step])));
}

EulerScheduler::EulerScheduler(int steps) : EulerFamilyScheduler("euler", steps) {}

at::Tensor EulerScheduler::step(const at::Tensor& model_output, int step, const at::Tensor& x,
                                at::Generator& generator) {
  begin_step(model_output, step, x);
  // diffusers draws this noise even with s_churn = 0 and never uses it; draw it too (on the CPU
  // only) so the generator stays in the reference state.
  at::randn(x.sizes(), generator, at::TensorOptions(at::kFloat));
  const float sigma = sigma_values_[step];
  const float dt = sigma_values_[step + 1] - sigma;
  const at::Tensor sample = x.to(at::kFloat);
  const at::Tensor eps = model_output.to(at::kFloat);
  // Same operation order as diffusers so float32 results match on the CPU.
  const at::Tensor denoised = sample - eps * static_cast<double>(sigma);
  const at::Tensor derivative = (sample - denoised).div(static_cast<double>(sigma));
  return (sample + derivative * static_cast<double>(dt)).to(x.scalar_type());
}

EulerAncestralScheduler::EulerAncestralScheduler(int steps)
    : EulerFamilyScheduler("euler_a", steps) {}

at::Tensor EulerAncestralScheduler::step(const at::Tensor& model_output, int step,
                                         const at::Tensor& x, at::Generator& generator) {
  begin_step(model_output, step, x);
  const float sigma_from = sigma_values_[step];
  const float sigma_to = sigma_values_[step + 1];
  const float from2 = sigma_from * sigma_from;
  const float to2 = sigma_to * sigma_to;
  const float sigma_up = std::sqrt(to2 * (from2 - to2) / from2);
  // to^2 - up^2 = to^4 / from^2 >= 0; the clamp only guards against rounding below zero.
  const float sigma_down = std::sqrt(std::max(0.0f, to2 - sigma_up * sigma_up));
  const float dt = sigma_down - sigma_from;

  const at::Tensor sample = x.to(at::kFloat);
  const at::Tensor eps = model_output.to(at::kFloat);
  const at::Tensor denoised = sample - eps * static_cast<double>(sigma_from);
  const at::Tensor derivative = (sample - denoised).div(static_cast<double>(sigma_from));
  at::Tensor prev = sample + derivative * static_cast<double>(dt);
  const at::Tensor noise = cpu_randn_like(generator, x);
  prev = prev + noise * static_cast<double>(sigma_up);
  return prev.to(x.scalar_type());
}

}  // namespace sdxlw::sampling
