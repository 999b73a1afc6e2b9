#pragma once
// The SDXL training noise schedule and the step schedules diffusers derives from it, reproduced
// with diffusers' own precision: torch float32 for the training tables, numpy float64 for
// interpolation and Karras sigmas (numpy 1.x promotion rules).

#include <cstdint>
#include <vector>

namespace sdxlw::sampling {

// scaled_linear betas from 0.00085 to 0.012 over 1000 training steps (SDXL base).
struct TrainingSchedule {
  static const TrainingSchedule& sdxl();

  int num_train_timesteps = 0;
  std::vector<float> alphas_cumprod;  // [T] torch.cumprod of 1 - betas, float32
  std::vector<float> sigmas;          // [T] sqrt((1 - a) / a) in float32, ascending in t
  std::vector<float> log_sigmas;      // [T] float32 log of sigmas

  // sigma at the (fractional) timestep t by linear interpolation in float64 like np.interp,
  // clamped to the table's ends.
  double interp_sigma(double t) const;
  // diffusers' _sigma_to_t: the fractional timestep whose log-sigma matches, interpolated
  // between neighbours of log_sigmas.
  double sigma_to_t(double sigma) const;
};

// "leading" spacing with steps_offset 1: t_i = (n - 1 - i) * (T / n) + 1 (Euler, DDIM), or with
// divisor n + 1 and one extra step dropped (DPM-Solver), i.e. t_i = (n - i) * (T / (n + 1)) + 1.
std::vector<int64_t> leading_timesteps(int num_train_timesteps, int steps, bool dpm_solver);

// Karras et al. (2022) sigmas, rho = 7, from sigma_max down to sigma_min, in float64.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps);

// numpy's round-half-to-even.
double round_half_even(double x);

}  // namespace sdxlw::sampling
