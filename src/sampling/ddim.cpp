#include "sampling/ddim.h"

#include <cmath>

#include "sampling/noise_schedule.h"

namespace sdxlw::sampling {

DdimScheduler::DdimScheduler(int steps) : Scheduler("ddim", steps) {
  const TrainingSchedule& train = TrainingSchedule::sdxl();
  std::vector<float> timesteps;
  for (int64_t t : leading_timesteps(train.num_train_timesteps, steps, /*dpm_solver=*/false)) {
    timesteps.push_back(static_cast<float>(t));
    alpha_prod_.push_back(train.alphas_cumprod[t]);
  }
  // diffusers steps from t to t - T / S; below zero it uses alpha-bar[0] (set_alpha_to_one false).
  // With leading spacing and offset 1 that previous timestep is exactly the next entry.
  alpha_prod_.push_back(train.alphas_cumprod.front());
  std::vector<float> sigmas;
  for (float a : alpha_prod_) sigmas.push_back(std::sqrt((1.0f - a) / a));
  set_schedule(timesteps, sigmas, 1.0);
}

at::Tensor DdimScheduler::step(const at::Tensor& model_output, int step, const at::Tensor& x,
                               at::Generator& generator) {
  begin_step(model_output, step, x);
  const float alpha_prod_t = alpha_prod_[step];
  const float alpha_prod_prev = alpha_prod_[step + 1];
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const at::Tensor sample = x.to(at::kFloat);
  const at::Tensor eps = model_output.to(at::kFloat);
  const at::Tensor x0 = (sample - eps * static_cast<double>(std::sqrt(beta_prod_t)))
                            .div(static_cast<double>(std::sqrt(alpha_prod_t)));
  // eta = 0: no variance term and no noise draw.
  const at::Tensor direction = eps * static_cast<double>(std::sqrt(1.0f - alpha_prod_prev));
  return (x0 * static_cast<double>(std::sqrt(alpha_prod_prev)) + direction).to(x.scalar_type());
}

}  // namespace sdxlw::sampling
