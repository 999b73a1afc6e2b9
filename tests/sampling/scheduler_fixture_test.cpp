// Every fixture job's scheduler against the diffusers v0.27 reference tensors.

#include <gtest/gtest.h>

#include <cmath>

#include "job_fixture.h"
#include "sampling/guidance.h"
#include "sampling/scheduler.h"

namespace sdxlw::sampling {
namespace {

using test::JobFixture;

class SchedulerFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { job_ = std::make_unique<JobFixture>(GetParam()); }

  std::unique_ptr<Scheduler> make() const {
    return make_scheduler(job_->input().at("scheduler").get<std::string>(),
                          job_->input().at("num_inference_steps").get<int>());
  }
  at::Generator seeded_generator() const {
    return make_cpu_generator(job_->input().at("seed").get<uint64_t>());
  }
  std::vector<int64_t> latent_shape() const {
    return {job_->input().at("num_images").get<int64_t>(), 4,
            job_->input().at("height").get<int64_t>() / 8,
            job_->input().at("width").get<int64_t>() / 8};
  }
  at::Tensor draw_initial(at::Generator& gen, double init_noise_sigma) const {
    const std::vector<int64_t> s = latent_shape();
    return initial_latents(gen, s[0], s[2], s[3], init_noise_sigma);
  }

  std::unique_ptr<JobFixture> job_;
};

TEST_P(SchedulerFixture, TimestepsSigmasAndInitSigmaMatchDiffusers) {
  const auto scheduler = make();
  const at::Tensor ref_t = job_->tensor("timesteps").to(at::kFloat);
  const at::Tensor ref_s = job_->tensor("sigmas");
  ASSERT_EQ(scheduler->steps(), ref_t.size(0));
  EXPECT_TRUE(at::equal(scheduler->timesteps(), ref_t))
      << "ours " << scheduler->timesteps() << "\nreference " << ref_t;
  ASSERT_EQ(scheduler->sigmas().sizes(), ref_s.sizes());
  const double sigma_rel = test::max_elementwise_rel(scheduler->sigmas(), ref_s);
  EXPECT_LE(sigma_rel, 1e-6) << "ours " << scheduler->sigmas() << "\nreference " << ref_s;
  const double ref_init = job_->meta().at("scheduler").at("init_noise_sigma").get<double>();
  EXPECT_NEAR(scheduler->init_noise_sigma(), ref_init, 1e-6 * ref_init);
  std::printf("[ %s ] sigmas max rel diff %.3g, init sigma %.9g vs %.9g\n", GetParam().c_str(),
              sigma_rel, scheduler->init_noise_sigma(), ref_init);
}

TEST_P(SchedulerFixture, SeededNoiseAndInitialLatentsMatchReference) {
  const auto scheduler = make();
  at::Generator noise_gen = seeded_generator();
  EXPECT_TRUE(at::equal(draw_initial(noise_gen, 1.0), job_->tensor("noise_init")));
  at::Generator gen = seeded_generator();
  const at::Tensor latents = draw_initial(gen, scheduler->init_noise_sigma());
  const double rel = test::max_elementwise_rel(latents, job_->tensor("latents_init"));
  EXPECT_LE(rel, 1e-6);
}

TEST_P(SchedulerFixture, ScaledModelInputMatchesStepZeroInput) {
  const auto scheduler = make();
  const at::Tensor scaled = scheduler->scale_model_input(job_->tensor("latents_init"), 0);
  const double rel = test::max_elementwise_rel(scaled, job_->tensor("latent_model_input_step0"));
  EXPECT_LE(rel, 1e-6);
}

TEST_P(SchedulerFixture, GuidanceCombinesStepZeroOutputsLikeDiffusers) {
  const double g = job_->input().at("guidance_scale").get<double>();
  ASSERT_TRUE(uses_cfg(g));
  const at::Tensor uncond = job_->tensor("eps_uncond_step0");
  const at::Tensor cond = job_->tensor("eps_cond_step0");
  const at::Tensor guided = job_->tensor("eps_guided_step0");
  EXPECT_LE(test::max_rel_to_max_abs(apply_cfg(uncond, cond, g), guided), 1e-6);
  EXPECT_LE(test::max_rel_to_max_abs(apply_cfg(at::cat({uncond, cond}), g), guided), 1e-6);
}

TEST_P(SchedulerFixture, FirstStepFromGuidedOutputMatchesReference) {
  auto scheduler = make();
  at::Generator gen = seeded_generator();
  draw_initial(gen, scheduler->init_noise_sigma());  // the pipeline's generator state at step 0
  const at::Tensor next =
      scheduler->step(job_->tensor("eps_guided_step0"), 0, job_->tensor("latents_init"), gen);
  const at::Tensor expected = job_->tensor("latents_steps")[0];
  const double rel = test::max_rel_to_max_abs(next, expected);
  EXPECT_LE(rel, 1e-5);
  EXPECT_EQ(next.scalar_type(), at::kFloat);
  EXPECT_EQ(scheduler->next_step(), 1);
  std::printf("[ %s ] step 0 max diff / max abs %.3g\n", GetParam().c_str(), rel);
}

INSTANTIATE_TEST_SUITE_P(Jobs, SchedulerFixture, ::testing::ValuesIn(test::fixture_job_names()), test::job_param_name);

}  // namespace
}  // namespace sdxlw::sampling
