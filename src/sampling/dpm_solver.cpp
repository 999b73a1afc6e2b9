#include "sampling/dpm_solver.h"

#include <cmath>
#include <stdexcept>

#include "sampling/noise_schedule.h"

namespace sdxlw::sampling {

DpmSolverMultistepScheduler::DpmSolverMultistepScheduler(int steps, bool use_karras_sigmas)
    : Scheduler(use_karras_sigmas ? "dpmpp_2m_karras" : "dpmpp_2m", steps) {
  const TrainingSchedule& train = TrainingSchedule::sdxl();
  std::vector<float> timesteps;
  std::vector<float> sigmas;
  if (use_karras_sigmas) {
    for (double sigma : karras_sigmas(train.sigmas.front(), train.sigmas.back(), steps)) {
      timesteps.push_back(static_cast<float>(round_half_even(train.sigma_to_t(sigma))));
      sigmas.push_back(static_cast<float>(sigma));
    }
  } else {
    if (train.num_train_timesteps / (steps + 1) == 0)
      throw std::invalid_argument("scheduler " + name_ + ": at most " +
                                  std::to_string(train.num_train_timesteps - 1) +
                                  " steps are supported (got " + std::to_string(steps) + ")");
    for (int64_t t : leading_timesteps(train.num_train_timesteps, steps, /*dpm_solver=*/true)) {
      timesteps.push_back(static_cast<float>(t));
      sigmas.push_back(static_cast<float>(train.interp_sigma(static_cast<double>(t))));
    }
  }
  sigmas.push_back(0.0f);  // final_sigmas_type "zero"
  set_schedule(timesteps, sigmas, 1.0);
}

DpmSolverMultistepScheduler::AlphaSigma DpmSolverMultistepScheduler::alpha_sigma(int index) const {
  // float32 scalar math in diffusers' order (_sigma_to_alpha_sigma_t, then the log-SNR).
  const float sigma = sigma_values_[index];
  const float alpha_t = 1.0f / std::sqrt(sigma * sigma + 1.0f);
  const float sigma_t = sigma * alpha_t;
  return {alpha_t, sigma_t, std::log(alpha_t) - std::log(sigma_t)};
}

at::Tensor DpmSolverMultistepScheduler::step(const at::Tensor& model_output, int step,
                                             const at::Tensor& x, at::Generator& generator) {
  begin_step(model_output, step, x);
  const at::Tensor sample = x.to(at::kFloat);
  const at::Tensor eps = model_output.to(at::kFloat);

  const AlphaSigma s0 = alpha_sigma(step);
  const AlphaSigma t = alpha_sigma(step + 1);
  // Data prediction x0 = (x - sigma_t * eps) / alpha_t.
  const at::Tensor x0 =
      (sample - eps * static_cast<double>(s0.sigma)).div(static_cast<double>(s0.alpha));

  // The last step lands on sigma = 0 and is always first order there (final_sigmas_type "zero";
  // below 15 steps lower_order_final asks for the same).
  const bool first_order = step == 0 || step == steps_ - 1;
  const float h = t.lambda - s0.lambda;
  const float sample_coeff = t.sigma / s0.sigma;
  const float d0_coeff = t.alpha * (std::exp(-h) - 1.0f);
  at::Tensor prev;
  if (first_order) {
    prev = sample * static_cast<double>(sample_coeff) - x0 * static_cast<double>(d0_coeff);
  } else {
    const AlphaSigma s1 = alpha_sigma(step - 1);
    const float h0 = s0.lambda - s1.lambda;
    const float r0 = h0 / h;
    const float d1_scale = 1.0f / r0;
    const at::Tensor d1 = (x0 - previous_x0_) * static_cast<double>(d1_scale);
    prev = sample * static_cast<double>(sample_coeff) - x0 * static_cast<double>(d0_coeff) -
           d1 * static_cast<double>(0.5f * d0_coeff);
  }
  previous_x0_ = x0;
  return prev.to(x.scalar_type());
}

}  // namespace sdxlw::sampling
