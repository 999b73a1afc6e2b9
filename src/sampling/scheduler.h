#pragma once
// Samplers for SDXL (DESIGN §4): the diffusers v0.27 schedulers with the SDXL-base config, so a
// seed reproduces the reference image on any device (tests/fixtures/README.md §2 steps 6-8).
//
// Scalar schedule math (sigmas, DPM-Solver coefficients) is done on the CPU in the precision
// diffusers uses; tensors are only touched with scalar multiplies, so a step on a CUDA tensor
// needs no host sync beyond moving ancestral noise drawn from the job's CPU generator.

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sdxlw::sampling {

class Scheduler {
 public:
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  virtual ~Scheduler() = default;

  const std::string& name() const { return name_; }  // canonical name ("dpmpp_2m_karras")
  int steps() const { return steps_; }
  // [S] float32 CPU: the t given to the UNet at each step.
  const at::Tensor& timesteps() const { return timesteps_; }
  // [S+1] float32 CPU, as the fixtures' `sigmas` (DDIM: sqrt((1-a)/a) of each step's alpha-bar,
  // the last one that of the final alpha-bar).
  const at::Tensor& sigmas() const { return sigmas_; }
  double init_noise_sigma() const { return init_noise_sigma_; }
  // The step that step() expects next (0 for a fresh scheduler).
  int next_step() const { return next_step_; }

  // The UNet input for `step`; keeps x's device and dtype.
  virtual at::Tensor scale_model_input(const at::Tensor& x, int step) const;

  // One denoising step from the (guided) model output at `step` to the next latents. Steps must
  // be taken in order 0..S-1. Computes in float32 on x's device and returns x's dtype.
  // `generator` is the job's CPU generator: noise is drawn on the CPU from it, float32, and moved
  // to x's device, exactly as often as diffusers draws.
  virtual at::Tensor step(const at::Tensor& model_output, int step, const at::Tensor& x,
                          at::Generator& generator) = 0;

 protected:
  Scheduler(std::string name, int steps) : name_(std::move(name)), steps_(steps) {}
  // Validates one step() call (order, shapes) and advances the counter.
  void begin_step(const at::Tensor& model_output, int step, const at::Tensor& x);
  // Stores the schedule; sigmas.size() must be timesteps.size() + 1.
  void set_schedule(const std::vector<float>& timesteps, const std::vector<float>& sigmas,
                    double init_noise_sigma);

  std::string name_;
  int steps_;
  at::Tensor timesteps_;
  at::Tensor sigmas_;
  std::vector<float> sigma_values_;  // sigmas_ as CPU scalars for the step math
  double init_noise_sigma_ = 1.0;
  int next_step_ = 0;
};

// The scheduler for a canonical name or an alias (see core/schedulers.h) and a step count in
// 1..1000. Throws std::invalid_argument naming the problem (an unknown name lists the known ones).
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, int steps);

// The job's CPU generator, seeded like torch.Generator().manual_seed(seed).
at::Generator make_cpu_generator(uint64_t seed);

// The job's initial latents: randn([batch, 4, latent_h, latent_w]) float32 drawn from
// `generator` on the CPU in one call, times init_noise_sigma. CPU float32; move it yourself.
at::Tensor initial_latents(at::Generator& generator, int64_t batch, int64_t latent_h,
                           int64_t latent_w, double init_noise_sigma);

// Standard normal noise of `shape`, drawn from the CPU `generator` as float32 and moved to
// `like`'s device as float32.
at::Tensor cpu_randn_like(at::Generator& generator, const at::Tensor& like);

}  // namespace sdxlw::sampling
