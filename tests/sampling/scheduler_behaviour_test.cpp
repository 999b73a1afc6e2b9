// Scheduler behaviour that the single-step fixtures cannot pin: names, errors, the DPM++ 2M
// multistep recurrence, generator consumption, dtypes.

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "core/schedulers.h"
#include "job_fixture.h"
#include "sampling/noise_schedule.h"
#include "sampling/scheduler.h"

namespace sdxlw::sampling {
namespace {

TEST(SchedulerNames, AliasesResolveToTheirSampler) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"euler", "euler"},
      {"K_EULER", "euler"},
      {"Euler", "euler"},
      {"euler_a", "euler_a"},
      {"K_EULER_ANCESTRAL", "euler_a"},
      {"Euler a", "euler_a"},
      {"euler_ancestral", "euler_a"},
      {"dpmpp_2m", "dpmpp_2m"},
      {"DPMSolverMultistep", "dpmpp_2m"},
      {"DPM++ 2M", "dpmpp_2m"},
      {"dpmpp_2m_karras", "dpmpp_2m_karras"},
      {"DPM++ 2M Karras", "dpmpp_2m_karras"},
      {"DDIM", "ddim"},
  };
  for (const auto& [alias, canonical] : cases) {
    const auto scheduler = make_scheduler(alias, 10);
    EXPECT_EQ(scheduler->name(), canonical) << alias;
  }
  for (const std::string& name : scheduler_names())
    EXPECT_EQ(make_scheduler(name, 5)->name(), name);
}

TEST(SchedulerNames, UnknownNameErrorListsAcceptedNames) {
  try {
    make_scheduler("eulr", 10);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "scheduler \"eulr\" is unknown (known: euler, euler_a, dpmpp_2m, "
                 "dpmpp_2m_karras, ddim)");
  }
}

TEST(SchedulerNames, StepCountOutsideOneToThousandIsRejected) {
  for (int steps : {0, -3, 1001}) {
    try {
      make_scheduler("euler", steps);
      FAIL() << steps;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("1..1000"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::to_string(steps)), std::string::npos);
    }
  }
  for (const std::string& name : scheduler_names()) {
    EXPECT_EQ(make_scheduler(name, 1)->steps(), 1);
    EXPECT_EQ(make_scheduler(name, 150)->steps(), 150);
  }
}

TEST(SchedulerNames, DpmLeadingSpacingRejectsAThousandSteps) {
  // diffusers' 1000 // (n + 1) is 0 there: every timestep would be 1.
  EXPECT_THROW(make_scheduler("dpmpp_2m", 1000), std::invalid_argument);
  EXPECT_EQ(make_scheduler("dpmpp_2m", 999)->steps(), 999);
  EXPECT_EQ(make_scheduler("dpmpp_2m_karras", 1000)->steps(), 1000);
}

TEST(Schedule, LeadingSpacingDiffersPerClass) {
  const auto euler = make_scheduler("euler", 10);
  const auto ddim = make_scheduler("ddim", 10);
  const auto dpm = make_scheduler("dpmpp_2m", 12);
  const std::vector<float> euler_t = {901, 801, 701, 601, 501, 401, 301, 201, 101, 1};
  EXPECT_TRUE(at::equal(euler->timesteps(), at::tensor(euler_t)));
  EXPECT_TRUE(at::equal(ddim->timesteps(), at::tensor(euler_t)));
  EXPECT_EQ(dpm->timesteps()[0].item<float>(), 913.0f);
  EXPECT_EQ(dpm->timesteps()[11].item<float>(), 77.0f);
}

TEST(Schedule, KarrasSigmasRunFromSigmaMaxToSigmaMinAndZero) {
  const TrainingSchedule& train = TrainingSchedule::sdxl();
  const auto s = make_scheduler("dpmpp_2m_karras", 25);
  const at::Tensor sigmas = s->sigmas();
  EXPECT_EQ(sigmas[0].item<float>(), train.sigmas.back());
  EXPECT_EQ(sigmas[24].item<float>(), train.sigmas.front());
  EXPECT_EQ(sigmas[25].item<float>(), 0.0f);
  EXPECT_TRUE((sigmas.slice(0, 0, 25) > sigmas.slice(0, 1, 26)).all().item<bool>());
  EXPECT_EQ(s->timesteps()[0].item<float>(), 999.0f);
  EXPECT_EQ(s->timesteps()[24].item<float>(), 0.0f);
}

// DPM-Solver++(2M) written out in float64 from the paper (arXiv:2211.01095, alg. 2) with
// lambda = -log(sigma), alpha = 1 / sqrt(1 + sigma^2).
std::vector<at::Tensor> dpmpp_2m_reference(const at::Tensor& sigmas, at::Tensor x,
                                           const std::vector<at::Tensor>& eps) {
  const int steps = static_cast<int>(eps.size());
  std::vector<at::Tensor> out;
  at::Tensor prev_x0;
  x = x.to(at::kDouble);
  for (int i = 0; i < steps; ++i) {
    const double s = sigmas[i].item<double>();
    const double s_next = sigmas[i + 1].item<double>();
    const double alpha = 1.0 / std::sqrt(1.0 + s * s);
    const double alpha_next = 1.0 / std::sqrt(1.0 + s_next * s_next);
    const at::Tensor x0 = (x - eps[i].to(at::kDouble) * (s * alpha)) / alpha;
    if (s_next == 0.0) {
      x = x0;  // the solution at sigma 0 is the data prediction itself
    } else {
      const double h = std::log(s) - std::log(s_next);
      at::Tensor d = x0;
      if (i > 0) {
        const double h_last = std::log(sigmas[i - 1].item<double>()) - std::log(s);
        d = x0 + (x0 - prev_x0) * (h / (2.0 * h_last));
      }
      x = x * ((s_next * alpha_next) / (s * alpha)) + d * (alpha_next * (1.0 - std::exp(-h)));
    }
    prev_x0 = x0;
    out.push_back(x);
  }
  return out;
}

void expect_dpm_matches_reference(const std::string& name, int steps) {
  auto scheduler = make_scheduler(name, steps);
  at::Generator gen = make_cpu_generator(3);
  at::Tensor x = at::randn({1, 4, 2, 3}, gen) * 1.5;
  std::vector<at::Tensor> eps;
  for (int i = 0; i < steps; ++i) eps.push_back(at::randn({1, 4, 2, 3}, gen));
  const std::vector<at::Tensor> expected = dpmpp_2m_reference(scheduler->sigmas(), x, eps);
  for (int i = 0; i < steps; ++i) {
    x = scheduler->step(eps[i], i, x, gen);
    EXPECT_LE(test::max_rel_to_max_abs(x, expected[i]), 2e-6) << name << " step " << i;
  }
}

TEST(DpmSolver, SecondOrderMultistepMatchesHandComputedRecurrence) {
  expect_dpm_matches_reference("dpmpp_2m", 6);
  expect_dpm_matches_reference("dpmpp_2m_karras", 6);
  expect_dpm_matches_reference("dpmpp_2m", 20);
}

TEST(DpmSolver, SecondStepUsesThePreviousDataPrediction) {
  // Same x and eps at step 1, different step-0 history: a second-order update must differ.
  const at::Tensor x = at::full({1, 4, 2, 2}, 0.5);
  auto a = make_scheduler("dpmpp_2m", 8);
  auto b = make_scheduler("dpmpp_2m", 8);
  at::Generator gen = make_cpu_generator(0);
  a->step(at::zeros_like(x), 0, x, gen);
  b->step(at::ones_like(x), 0, x, gen);
  const at::Tensor ya = a->step(at::ones_like(x), 1, x, gen);
  const at::Tensor yb = b->step(at::ones_like(x), 1, x, gen);
  EXPECT_GT((ya - yb).abs().max().item<double>(), 1e-3);
}

TEST(DpmSolver, LastStepIsFirstOrderAndLandsOnTheDataPrediction) {
  for (int steps : {5, 14, 15, 30}) {
    auto scheduler = make_scheduler("dpmpp_2m", steps);
    at::Generator gen = make_cpu_generator(11);
    at::Tensor x = at::randn({2, 4, 2, 2}, gen);
    at::Tensor eps;
    for (int i = 0; i < steps; ++i) {
      eps = at::randn({2, 4, 2, 2}, gen);
      if (i == steps - 1) {
        const double s = scheduler->sigmas()[i].item<double>();
        const double alpha = 1.0 / std::sqrt(1.0 + s * s);
        const at::Tensor x0 = (x.to(at::kDouble) - eps.to(at::kDouble) * (s * alpha)) / alpha;
        const at::Tensor last = scheduler->step(eps, i, x, gen);
        EXPECT_TRUE(at::isfinite(last).all().item<bool>()) << steps;
        EXPECT_LE(test::max_rel_to_max_abs(last, x0), 1e-6) << steps;
      } else {
        x = scheduler->step(eps, i, x, gen);
      }
    }
  }
}

TEST(Euler, DrawsOneUnusedNoiseTensorPerStepLikeDiffusers) {
  auto scheduler = make_scheduler("euler", 4);
  at::Generator gen = make_cpu_generator(42);
  at::Generator expected_gen = make_cpu_generator(42);
  const at::Tensor x = at::randn({1, 4, 4, 4}, gen);
  at::randn({1, 4, 4, 4}, expected_gen);
  const at::Tensor y = scheduler->step(at::zeros_like(x), 0, x, gen);
  at::randn({1, 4, 4, 4}, expected_gen);
  EXPECT_TRUE(at::equal(at::randn({3}, gen), at::randn({3}, expected_gen)));
  // With zero noise prediction an Euler step leaves x unchanged.
  EXPECT_TRUE(at::equal(y, x));
}

TEST(EulerAncestral, AddsGeneratorNoiseScaledBySigmaUp) {
  const int steps = 5;
  auto scheduler = make_scheduler("euler_a", steps);
  at::Generator gen = make_cpu_generator(7);
  at::Generator replay = make_cpu_generator(7);
  const at::Tensor x = at::zeros({1, 4, 3, 3});
  const at::Tensor y = scheduler->step(at::zeros_like(x), 0, x, gen);
  const double from = scheduler->sigmas()[0].item<double>();
  const double to = scheduler->sigmas()[1].item<double>();
  const double up = std::sqrt(to * to * (from * from - to * to) / (from * from));
  EXPECT_LE(test::max_rel_to_max_abs(y, at::randn({1, 4, 3, 3}, replay) * up), 1e-6);
}

TEST(Ddim, LastStepUsesAlphaBarZero) {
  const TrainingSchedule& train = TrainingSchedule::sdxl();
  auto scheduler = make_scheduler("ddim", 1);
  at::Generator gen = make_cpu_generator(1);
  const at::Tensor x = at::randn({1, 4, 2, 2}, gen);
  const at::Tensor eps = at::randn({1, 4, 2, 2}, gen);
  const double a = train.alphas_cumprod[1];
  const double a_prev = train.alphas_cumprod[0];
  const at::Tensor x0 = (x.to(at::kDouble) - eps.to(at::kDouble) * std::sqrt(1 - a)) / std::sqrt(a);
  const at::Tensor expected = x0 * std::sqrt(a_prev) + eps.to(at::kDouble) * std::sqrt(1 - a_prev);
  EXPECT_LE(test::max_rel_to_max_abs(scheduler->step(eps, 0, x, gen), expected), 1e-6);
  EXPECT_FLOAT_EQ(scheduler->sigmas()[1].item<float>(), std::sqrt((1 - a_prev) / a_prev));
}

TEST(Scheduler, StepsMustBeTakenInOrderWithMatchingShapes) {
  auto scheduler = make_scheduler("dpmpp_2m", 3);
  at::Generator gen = make_cpu_generator(0);
  const at::Tensor x = at::zeros({1, 4, 2, 2});
  EXPECT_THROW(scheduler->step(x, 1, x, gen), std::logic_error);
  EXPECT_THROW(scheduler->step(at::zeros({1, 4, 2, 3}), 0, x, gen), std::invalid_argument);
  for (int i = 0; i < 3; ++i) scheduler->step(x, i, x, gen);
  EXPECT_THROW(scheduler->step(x, 3, x, gen), std::logic_error);
  EXPECT_THROW(scheduler->scale_model_input(x, 3), std::out_of_range);
}

TEST(Scheduler, NoiseNeedsACpuGenerator) {
  at::Generator undefined;
  EXPECT_THROW(initial_latents(undefined, 1, 8, 8, 1.0), std::invalid_argument);
  at::Generator gen = make_cpu_generator(0);
  EXPECT_THROW(initial_latents(gen, 0, 8, 8, 1.0), std::invalid_argument);
}

TEST(Scheduler, HalfPrecisionLatentsStepInFloat32AndKeepTheirDtype) {
  for (const std::string& name : scheduler_names()) {
    auto full = make_scheduler(name, 6);
    auto half = make_scheduler(name, 6);
    at::Generator gen_full = make_cpu_generator(5);
    at::Generator gen_half = make_cpu_generator(5);
    at::Tensor x = initial_latents(gen_full, 1, 4, 4, full->init_noise_sigma());
    initial_latents(gen_half, 1, 4, 4, half->init_noise_sigma());
    at::Tensor xh = x.to(at::kHalf);
    for (int i = 0; i < 6; ++i) {
      const at::Tensor eps = at::sin(x * 0.3 + i);
      const at::Tensor in_half = half->scale_model_input(xh, i);
      EXPECT_EQ(in_half.scalar_type(), at::kHalf);
      x = full->step(eps, i, x, gen_full);
      xh = half->step(eps.to(at::kHalf), i, xh, gen_half);
      EXPECT_EQ(xh.scalar_type(), at::kHalf);
    }
    EXPECT_LE(test::max_rel_to_max_abs(xh, x), 5e-3) << name;
  }
}

}  // namespace
}  // namespace sdxlw::sampling
