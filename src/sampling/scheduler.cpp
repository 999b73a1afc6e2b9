#include "sampling/scheduler.h"

#include <ATen/CPUGeneratorImpl.h>

#include <sstream>
#include <stdexcept>

#include "core/schedulers.h"
#include "sampling/ddim.h"
#include "sampling/dpm_solver.h"
#include "sampling/euler.h"

namespace sdxlw::sampling {

namespace {

void require_cpu_generator(const at::Generator& generator, const char* what) {
  if (!generator.defined() || !generator.device().is_cpu())
    throw std::invalid_argument(std::string(what) +
                                ": the noise generator must be a CPU generator");
}

std::string shape_string(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

}  // namespace

at::Tensor Scheduler::scale_model_input(const at::Tensor& x, int step) const {
  if (step < 0 || step >= steps_)
    throw std::out_of_range("scheduler " + name_ + ": step " + std::to_string(step) +
                            " is outside 0.." + std::to_string(steps_ - 1));
  return x;
}

void Scheduler::begin_step(const at::Tensor& model_output, int step, const at::Tensor& x) {
  if (step != next_step_ || step >= steps_) {
    std::string expected = next_step_ < steps_
                               ? "step " + std::to_string(next_step_)
                               : "no further step (all " + std::to_string(steps_) + " are done)";
    throw std::logic_error("scheduler " + name_ + ": step " + std::to_string(step) +
                           " was requested but the sampler expects " + expected);
  }
  if (!model_output.defined() || !x.defined())
    throw std::invalid_argument("scheduler " + name_ + ": step " + std::to_string(step) +
                                " got an undefined tensor");
  if (model_output.sizes() != x.sizes())
    throw std::invalid_argument("scheduler " + name_ + ": model output " +
                                shape_string(model_output) + " does not match latents " +
                                shape_string(x));
  if (model_output.device() != x.device())
    throw std::invalid_argument("scheduler " + name_ + ": model output on " +
                                model_output.device().str() + " but latents on " +
                                x.device().str());
  ++next_step_;
}

void Scheduler::set_schedule(const std::vector<float>& timesteps, const std::vector<float>& sigmas,
                             double init_noise_sigma) {
  if (timesteps.size() != static_cast<size_t>(steps_) || sigmas.size() != timesteps.size() + 1)
    throw std::logic_error("scheduler " + name_ + ": inconsistent schedule sizes");
  timesteps_ = at::tensor(at::ArrayRef<float>(timesteps), at::kFloat);
  sigmas_ = at::tensor(at::ArrayRef<float>(sigmas), at::kFloat);
  sigma_values_ = sigmas;
  init_noise_sigma_ = init_noise_sigma;
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, int steps) {
  const std::optional<std::string> canonical = canonical_scheduler_name(name);
  if (!canonical) {
    std::string known;
    for (const std::string& n : scheduler_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("scheduler \"" + name + "\" is unknown (known: " + known + ")");
  }
  if (steps < 1 || steps > 1000)
    throw std::invalid_argument("scheduler " + *canonical +
                                ": num_inference_steps must be in 1..1000 (got " +
                                std::to_string(steps) + ")");
  if (*canonical == "euler") return std::make_unique<EulerScheduler>(steps);
  if (*canonical == "euler_a") return std::make_unique<EulerAncestralScheduler>(steps);
  if (*canonical == "dpmpp_2m") return std::make_unique<DpmSolverMultistepScheduler>(steps, false);
  if (*canonical == "dpmpp_2m_karras")
    return std::make_unique<DpmSolverMultistepScheduler>(steps, true);
  if (*canonical == "ddim") return std::make_unique<DdimScheduler>(steps);
  throw std::logic_error("scheduler \"" + *canonical + "\" has no implementation");
}

at::Generator make_cpu_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

at::Tensor initial_latents(at::Generator& generator, int64_t batch, int64_t latent_h,
                           int64_t latent_w, double init_noise_sigma) {
  if (batch < 1 || latent_h < 1 || latent_w < 1)
    throw std::invalid_argument("initial latents: shape [" + std::to_string(batch) + ", 4, " +
                                std::to_string(latent_h) + ", " + std::to_string(latent_w) +
                                "] is empty");
  require_cpu_generator(generator, "initial latents");
  const at::Tensor noise =
      at::randn({batch, 4, latent_h, latent_w}, generator, at::TensorOptions(at::kFloat));
  return noise.mul(init_noise_sigma);
}

at::Tensor cpu_randn_like(at::Generator& generator, const at::Tensor& like) {
  require_cpu_generator(generator, "sampler noise");
  const at::Tensor noise = at::randn(like.sizes(), generator, at::TensorOptions(at::kFloat));
  if (like.device().is_cpu()) return noise;
  // A pageable host-to-device copy blocks the host until the GPU has caught up; from pinned
  // memory it is queued on the stream like the kernels, so the denoising loop never syncs.
  return noise.pin_memory().to(like.device(), at::kFloat, /*non_blocking=*/true);
}

}  // namespace sdxlw::sampling
