#include "sampling/noise_schedule.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace sdxlw::sampling {

const TrainingSchedule& TrainingSchedule::sdxl() {
  static const TrainingSchedule schedule = [] {
    constexpr int kTrainSteps = 1000;
    TrainingSchedule s;
    s.num_train_timesteps = kTrainSteps;
    // Same torch ops as diffusers' __init__ so the float32 tables match bit for bit.
    const at::Tensor betas =
        at::linspace(std::sqrt(0.00085), std::sqrt(0.012), kTrainSteps, at::kFloat).pow(2);
    const at::Tensor cumprod = at::cumprod(1.0 - betas, 0).contiguous();
    const float* a = cumprod.data_ptr<float>();
    s.alphas_cumprod.assign(a, a + kTrainSteps);
    for (float ac : s.alphas_cumprod) {
      const float sigma = std::sqrt((1.0f - ac) / ac);
      s.sigmas.push_back(sigma);
      s.log_sigmas.push_back(std::log(sigma));
    }
    return s;
  }();
  return schedule;
}

double TrainingSchedule::interp_sigma(double t) const {
  const int last = static_cast<int>(sigmas.size()) - 1;
  if (t <= 0.0) return sigmas.front();
  if (t >= last) return sigmas.back();
  const int j = static_cast<int>(std::floor(t));
  const double lo = sigmas[j];
  const double hi = sigmas[j + 1];
  return (hi - lo) * (t - j) + lo;
}

double TrainingSchedule::sigma_to_t(double sigma) const {
  // numpy 1.x value-based casting: the float64 log-sigma meets the float32 table as float32, so
  // the distances and the weight are float32; the final blend is float64.
  const float log_sigma = static_cast<float>(std::log(std::max(sigma, 1e-10)));
  const int n = static_cast<int>(log_sigmas.size());
  int low = 0;
  for (int i = 0; i < n; ++i)
    if (log_sigma - log_sigmas[i] >= 0.0f) low = i;
  low = std::min(low, n - 2);
  const int high = low + 1;
  const float lo = log_sigmas[low];
  const float hi = log_sigmas[high];
  float w = (lo - log_sigma) / (lo - hi);
  w = std::clamp(w, 0.0f, 1.0f);
  return static_cast<double>(1.0f - w) * low + static_cast<double>(w) * high;
}

std::vector<int64_t> leading_timesteps(int num_train_timesteps, int steps, bool dpm_solver) {
  const int64_t ratio = num_train_timesteps / (dpm_solver ? steps + 1 : steps);
  std::vector<int64_t> t;
  t.reserve(steps);
  for (int i = 0; i < steps; ++i) t.push_back((dpm_solver ? steps - i : steps - 1 - i) * ratio + 1);
  return t;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps) {
  constexpr double kRho = 7.0;
  const double min_inv_rho = std::pow(sigma_min, 1.0 / kRho);
  const double max_inv_rho = std::pow(sigma_max, 1.0 / kRho);
  std::vector<double> out;
  out.reserve(steps);
  const double ramp_step = steps > 1 ? 1.0 / (steps - 1) : 0.0;
  for (int i = 0; i < steps; ++i) {
    // np.linspace(0, 1, n): i * step, the last element exactly 1.
    const double ramp = (steps > 1 && i == steps - 1) ? 1.0 : i * ramp_step;
    out.push_back(std::pow(max_inv_rho + ramp * (min_inv_rho - max_inv_rho), kRho));
  }
  return out;
}

double round_half_even(double x) { return std::nearbyint(x); }

}  // namespace sdxlw::sampling
