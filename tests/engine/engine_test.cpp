// The public engine: create_engine from model files and options, repeatability, guidance ≤ 1,
// request validation, LoRA selection and the errors of unusable checkpoints.

#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "core/engine_factory.h"
#include "core/errors.h"
#include "engine/device.h"
#include "engine_test_util.h"
#include "sampling/job_fixture.h"
#include "support/image_compare.h"

namespace sdxlw::engine {
namespace {

namespace fs = std::filesystem;
using test::JobFixture;

EngineOptions cpu_options(const std::string& dtype = "fp32") {
  EngineOptions options;
  options.device = "cpu";
  options.dtype = dtype;
  options.warmup = true;  // a no-op on CPU
  return options;
}

// The message of the exception create_engine throws, or "" when it does not throw.
std::string create_error(const ModelFiles& files, const EngineOptions& options) {
  try {
    create_engine(files, options);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

class AssetsDirFromSource : public ::testing::Environment {
 public:
  // create_engine finds the tokenizer vocabulary through SDXLW_ASSETS_DIR (the test binary does
  // not sit next to assets/ as the installed executable does).
  void SetUp() override { setenv("SDXLW_ASSETS_DIR", (test::source_dir() / "assets").c_str(), 1); }
};
[[maybe_unused]] const auto* const kAssetsEnv = ::testing::AddGlobalTestEnvironment(new AssetsDirFromSource);

TEST(Engine, CreateEngineGeneratesFixtureJobBitIdenticallyTwice) {
  const JobFixture job("01_euler_64");
  const GenerationRequest request = test::request_from_job(job.input());
  const auto engine = create_engine(test::tiny_model_files(), cpu_options());
  EXPECT_EQ(engine->model_name(), "tiny_a");

  std::vector<int> steps;
  const GenerationResult first = engine->generate(request, [&](const StepProgress& p) { steps.push_back(p.step); });
  const GenerationResult second = engine->generate(request, nullptr);
  ASSERT_EQ(first.png_images.size(), 1u);
  ASSERT_EQ(second.png_images.size(), 1u);
  EXPECT_EQ(first.png_images[0], second.png_images[0]) << "the same seed must give the same PNG bytes";
  const auto diff =
      test::compare_png(first.png_images[0], test::read_file_bytes(test::fixture("jobs/01_euler_64/image_0.png")));
  EXPECT_LE(diff.max_abs, 2) << diff.describe();
  EXPECT_LE(diff.mean_abs, 0.05) << diff.describe();
  EXPECT_EQ(steps, std::vector<int>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(Engine, DefaultLoraSetAppliesWhenTheRequestNamesNone) {
  const JobFixture job("07_lora_a_0.8");
  GenerationRequest request = test::request_from_job(job.input());
  request.loras.reset();  // the models.json default: lora_a at 1.0
  Pipeline& pipeline = test::shared_engine().pipeline();
  const GenerationResult by_default = pipeline.generate(request, nullptr);
  ASSERT_EQ(by_default.loras.size(), 1u);
  EXPECT_EQ(by_default.loras[0].name, "lora_a");
  EXPECT_EQ(by_default.loras[0].scale, 1.0);

  request.loras = std::vector<LoraChoice>{{"lora_a", 1.0}};
  EXPECT_EQ(pipeline.generate(request, nullptr).png_images, by_default.png_images);
  request.loras = std::vector<LoraChoice>{{"lora_a", 0.8}};
  const GenerationResult fixture_scale = pipeline.generate(request, nullptr);
  const auto diff = test::compare_png(fixture_scale.png_images[0],
                                      test::read_file_bytes(test::fixture("jobs/07_lora_a_0.8/image_0.png")));
  EXPECT_LE(diff.max_abs, 2) << diff.describe();
  EXPECT_GT(test::compare_png(by_default.png_images[0], fixture_scale.png_images[0]).max_abs, 10)
      << "scale 1.0 and 0.8 must give different images";
}

TEST(Engine, StartUpLoraSetIsMergedAtLoadSoTheSameJobSetTouchesNoWeight) {
  EngineOptions options;
  options.device = "cpu";
  options.dtype = "fp32";
  options.warmup = false;
  options.initial_loras = std::vector<LoraChoice>{{"lora_a", 0.8}};
  auto engine = engine::create_sdxl_engine(test::tiny_model_files(), options, test::test_pipeline_options());
  const JobFixture job("07_lora_a_0.8");
  const GenerationRequest request = test::request_from_job(job.input());  // lora_a at 0.8
  const GenerationResult result = engine->pipeline().generate(request, nullptr);
  EXPECT_EQ(engine->pipeline().loras().last_stats().weights_changed, 0)
      << "the job's set was merged at start-up: nothing is merged twice";
  ASSERT_EQ(result.loras.size(), 1u);
  EXPECT_EQ(result.loras[0].scale, 0.8);
  const auto diff = test::compare_png(result.png_images[0],
                                      test::read_file_bytes(test::fixture("jobs/07_lora_a_0.8/image_0.png")));
  EXPECT_LE(diff.max_abs, 2) << diff.describe();
}

TEST(Engine, UnknownLoraIsAnInvalidRequestNamingTheKnownOnes) {
  GenerationRequest request = test::request_from_job(JobFixture("01_euler_64").input());
  request.loras = std::vector<LoraChoice>{{"no_such_lora", 1.0}};
  try {
    test::shared_engine().generate(request, nullptr);
    FAIL() << "expected InvalidRequest";
  } catch (const InvalidRequest& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_lora"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lora_a"), std::string::npos) << e.what();
  }
}

TEST(Engine, GuidanceAtMostOneRunsOneUnetPassPerStepOnTheCondBatch) {
  const JobFixture job("03_dpmpp_2m_batch2");
  GenerationRequest request = test::request_from_job(job.input());
  request.guidance_scale = 1.0;
  std::vector<int64_t> batch_sizes;
  at::Tensor eps0;
  PipelineHooks hooks;
  hooks.on_unet = [&](int step, const at::Tensor& x, const at::Tensor& eps) {
    batch_sizes.push_back(x.size(0));
    if (step == 0) eps0 = eps.clone();
  };
  const GenerationResult result = test::shared_engine().pipeline().generate(request, nullptr, hooks);
  EXPECT_EQ(batch_sizes, std::vector<int64_t>(static_cast<size_t>(request.steps), 2));
  // The one pass is the cond branch: at step 0 it equals the reference's cond output.
  EXPECT_LE(test::max_abs(eps0, job.tensor("eps_cond_step0")), 1e-3);
  EXPECT_EQ(result.png_images.size(), 2u);
}

TEST(Engine, OutOfMemoryIsAJobErrorAndTheEngineKeepsWorking) {
  GenerationRequest request = test::request_from_job(JobFixture("01_euler_64").input());
  request.steps = 3;
  Pipeline& pipeline = test::shared_engine().pipeline();
  const GenerationResult before = pipeline.generate(request, nullptr);

  PipelineHooks hooks;
  hooks.on_unet = [](int step, const at::Tensor&, const at::Tensor&) {
    if (step == 1) TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory. Tried to allocate 2.00 GiB");
  };
  try {
    pipeline.generate(request, nullptr, hooks);
    FAIL() << "expected an error";
  } catch (const InvalidRequest& e) {
    FAIL() << "not an invalid request: " << e.what();
  } catch (const EngineUnusable& e) {
    FAIL() << "the engine stays usable: " << e.what();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "out of memory while denoising (try fewer images or a smaller size)");
  }
  hooks.on_unet = [](int, const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "a kernel failed"); };
  try {
    pipeline.generate(request, nullptr, hooks);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "generation failed while denoising: a kernel failed");
  }
  EXPECT_EQ(pipeline.generate(request, nullptr).png_images, before.png_images);
}

TEST(Engine, InvalidRequestListsEveryProblem) {
  GenerationRequest request = test::request_from_job(JobFixture("01_euler_64").input());
  request.width = 100;
  request.steps = 0;
  request.scheduler = "eulr";
  request.num_images = 0;
  try {
    test::shared_engine().generate(request, nullptr);
    FAIL() << "expected InvalidRequest";
  } catch (const InvalidRequest& e) {
    const std::string message = e.what();
    for (const char* part : {"width must be a multiple of 32", "steps", "\"eulr\" is unknown", "num_images"}) {
      EXPECT_NE(message.find(part), std::string::npos) << part << " missing from: " << message;
    }
  }
}

TEST(Engine, InvalidUtf8PromptIsAnInvalidRequest) {
  GenerationRequest request = test::request_from_job(JobFixture("01_euler_64").input());
  request.prompt = "bad \xff byte";
  EXPECT_THROW(test::shared_engine().generate(request, nullptr), InvalidRequest);
}

TEST(Engine, Bf16OnCpuRunsTextAndUnetInBf16AndStaysClose) {
  const JobFixture job("01_euler_64");
  auto engine = create_sdxl_engine(test::tiny_model_files(), cpu_options("bf16"), test::test_pipeline_options());
  const EnginePlan& plan = engine->pipeline().plan();
  EXPECT_EQ(plan.text_dtype, at::kBFloat16);
  EXPECT_EQ(plan.unet_dtype, at::kBFloat16);
  EXPECT_EQ(plan.vae_dtype, at::kFloat);
  const GenerationResult result = engine->generate(test::request_from_job(job.input()), nullptr);
  const auto diff =
      test::compare_png(result.png_images[0], test::read_file_bytes(test::fixture("jobs/01_euler_64/image_0.png")));
  std::printf("[ bf16 ] 01_euler_64 vs fixture: %s\n", diff.describe().c_str());
  EXPECT_GE(diff.psnr_db, 30.0) << diff.describe();  // fixtures README §5: 36–40 dB measured
}

TEST(Engine, MissingCheckpointSaysWhereItLooked) {
  test::TempDir dir;
  ModelFiles files = test::tiny_model_files();
  files.checkpoint_path = (dir / "absent.safetensors").string();
  const std::string message = create_error(files, cpu_options());
  EXPECT_NE(message.find("tiny_a"), std::string::npos) << message;
  EXPECT_NE(message.find(files.checkpoint_path), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(Engine, TruncatedCheckpointIsAClearErrorSayingToDownloadAgain) {
  test::TempDir dir;
  const fs::path truncated = dir / "tiny_a.safetensors";
  {
    std::ifstream in(test::tiny_checkpoint(), std::ios::binary);
    std::string head(1 << 20, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(truncated, std::ios::binary).write(head.data(), in.gcount());
  }
  ModelFiles files = test::tiny_model_files();
  files.checkpoint_path = truncated.string();
  const std::string message = create_error(files, cpu_options());
  EXPECT_NE(message.find(truncated.string()), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("downloaded again"), std::string::npos) << message;
}

TEST(Engine, NonSdxlCheckpointIsRejectedSayingWhatItIs) {
  ModelFiles files = test::tiny_model_files();
  files.checkpoint_path = test::fixture("lora_a.safetensors").string();
  const std::string message = create_error(files, cpu_options());
  EXPECT_NE(message.find("lora_a.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("is a LoRA"), std::string::npos) << message;
}

TEST(Engine, UnusableOptionsAreRejectedBeforeLoading) {
  EngineOptions options = cpu_options();
  options.dtype = "int8";
  EXPECT_NE(create_error(test::tiny_model_files(), options).find("dtype \"int8\" is unknown"), std::string::npos);
  options = cpu_options("fp16");
  EXPECT_NE(create_error(test::tiny_model_files(), options).find("needs a CUDA GPU"), std::string::npos);
  options = cpu_options();
  options.device = "tpu";
  EXPECT_NE(create_error(test::tiny_model_files(), options).find("device \"tpu\" is unknown"), std::string::npos);
  if (!cuda_available()) {
    options.device = "cuda";
    EXPECT_NE(create_error(test::tiny_model_files(), options).find("no CUDA GPU"), std::string::npos);
  }
}

}  // namespace
}  // namespace sdxlw::engine
