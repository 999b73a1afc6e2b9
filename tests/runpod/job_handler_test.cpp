#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <sstream>

#include "io/base64.h"
#include "io/file_util.h"
#include "io/png.h"
#include "runpod/fake_engine.h"
#include "runpod/job_handler.h"
#include "runpod/job_output.h"
#include "runpod/local_mode.h"
#include "support/paths.h"

using nlohmann::json;
using sdxlw::test::FakeEngine;

namespace {

sdxlw::JobValidationContext context() {
  sdxlw::JobValidationContext c;
  c.known_loras = {{"lora_a", 1.0}};
  c.random_seed = [] { return uint64_t{99}; };
  return c;
}

json job(const std::string& id, const json& input) { return {{"id", id}, {"input", input}}; }

}  // namespace

TEST(JobHandler, ValidJobReturnsImagesAndEchoesTheSeed) {
  FakeEngine engine;
  sdxlw::JobHandler handler(engine, context());
  json out = handler.handle(job("j1", {{"prompt", "p"}, {"width", 64}, {"height", 64},
                                       {"num_inference_steps", 3}, {"seed", 5}, {"num_images", 2}}));
  ASSERT_FALSE(sdxlw::is_error_output(out)) << out.dump();
  ASSERT_EQ(out["images"].size(), 2u);
  auto image = sdxlw::decode_png(sdxlw::base64_decode(out["images"][1].get<std::string>()), 3);
  EXPECT_EQ(image.pixels[0], FakeEngine::shade(5, 1));
  EXPECT_EQ(out["seed"], 5);
  EXPECT_EQ(out["parameters"]["model"], "fake-sdxl");
  EXPECT_EQ(out["parameters"]["loras"][0]["unmatched_keys"], 2);
  ASSERT_EQ(engine.requests().size(), 1u);
  EXPECT_EQ(engine.requests()[0].steps, 3);
}

TEST(JobHandler, InvalidJobIsAnErrorAndNeverReachesTheEngine) {
  FakeEngine engine;
  sdxlw::JobHandler handler(engine, context());
  json out = handler.handle(job("j1", {{"prompt", "p"}, {"width", 1000}}));
  EXPECT_EQ(out, json({{"error", "invalid input: width must be a multiple of 64 (got 1000)"}}));
  EXPECT_EQ(handler.handle(json{{"id", "j2"}}),
            json({{"error", "job has no input: expected {\"input\": {\"prompt\": ...}}"}}));
  EXPECT_EQ(handler.handle(json("just text")),
            json({{"error", "job must be a JSON object with \"id\" and \"input\""}}));
  EXPECT_TRUE(engine.requests().empty());
}

TEST(JobHandler, EngineExceptionBecomesTheJobErrorAndTheNextJobRuns) {
  FakeEngine engine;
  engine.throw_message = "CUDA out of memory: tried to allocate 2 GiB";
  sdxlw::JobHandler handler(engine, context());
  EXPECT_EQ(handler.handle(job("j1", {{"prompt", "p"}, {"num_inference_steps", 2}})),
            json({{"error", "CUDA out of memory: tried to allocate 2 GiB"}}));
  engine.throw_message.clear();
  EXPECT_FALSE(sdxlw::is_error_output(handler.handle(job("j2", {{"prompt", "p"}, {"num_inference_steps", 2}}))));
}

TEST(JobHandler, EngineUnusableAsksForARefreshAndFailsLaterJobs) {
  FakeEngine engine;
  engine.throw_message = "CUDA error: an illegal memory access was encountered";
  engine.throw_unusable = true;
  sdxlw::JobHandler handler(engine, context());
  json first = handler.handle(job("j1", {{"prompt", "p"}, {"num_inference_steps", 2}}));
  EXPECT_EQ(first, json({{"error", "CUDA error: an illegal memory access was encountered"},
                         {"refresh_worker", true}}));
  EXPECT_TRUE(handler.engine_unusable());
  json second = handler.handle(job("j2", {{"prompt", "p"}, {"num_inference_steps", 2}}));
  EXPECT_EQ(second["refresh_worker"], true);
  EXPECT_NE(second["error"].get<std::string>().find("needs a restart"), std::string::npos);
  EXPECT_EQ(engine.requests().size(), 1u);
}

TEST(JobHandler, ForwardsEveryStepToTheProgressCallback) {
  FakeEngine engine;
  sdxlw::JobHandler handler(engine, context());
  std::vector<int> steps;
  handler.handle(job("j1", {{"prompt", "p"}, {"num_inference_steps", 4}}),
                 [&](const sdxlw::StepProgress& p) {
                   steps.push_back(p.step);
                   EXPECT_EQ(p.total, 4);
                 });
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3, 4}));
}

TEST(JobHandler, WritesEachPngToTheOutputDirUnderASafeJobId) {
  sdxlw::test::TempDir dir;
  FakeEngine engine;
  sdxlw::JobHandler handler(engine, context(), {(dir / "out").string()});
  json out = handler.handle(job("a/b c", {{"prompt", "p"}, {"num_inference_steps", 1}, {"num_images", 2}, {"seed", 3}}));
  ASSERT_FALSE(sdxlw::is_error_output(out)) << out.dump();
  for (int i = 0; i < 2; ++i) {
    auto path = dir / ("out/a_b_c_" + std::to_string(i) + ".png");
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    EXPECT_EQ(sdxlw::read_file(path.string()),
              sdxlw::base64_decode(out["images"][i].get<std::string>()));
  }
}

TEST(JobHandler, UnwritableOutputDirIsAJobError) {
  sdxlw::test::TempDir dir;
  sdxlw::write_file((dir / "file").string(), "x");
  FakeEngine engine;
  sdxlw::JobHandler handler(engine, context(), {(dir / "file").string()});
  json out = handler.handle(job("j", {{"prompt", "p"}, {"num_inference_steps", 1}}));
  ASSERT_TRUE(sdxlw::is_error_output(out));
  EXPECT_NE(out["error"].get<std::string>().find("cannot create output directory"), std::string::npos);
}

// --- local mode -------------------------------------------------------------------------------

namespace {

struct LocalRun {
  int code = -1;
  std::string stdout_text;
  int engine_loads = 0;
  std::optional<std::vector<sdxlw::LoraChoice>> engine_loras;  // the set the engine was loaded with
};

LocalRun run_local(const sdxlw::LocalRunOptions& options, FakeEngine* engine_out = nullptr,
                   std::function<void()> fail_load = nullptr,
                   std::function<void()> fail_prepare = nullptr) {
  LocalRun run;
  sdxlw::LocalRunHooks hooks;
  hooks.prepare = [&] {
    if (fail_prepare) fail_prepare();
    return context();
  };
  hooks.load_engine = [&](const sdxlw::GenerationRequest& request) -> std::unique_ptr<sdxlw::ImageGenerator> {
    ++run.engine_loads;
    run.engine_loras = request.loras;
    if (fail_load) fail_load();
    auto engine = std::make_unique<FakeEngine>();
    if (engine_out) engine->throw_message = engine_out->throw_message;
    return engine;
  };
  std::ostringstream out;
  run.code = sdxlw::run_local(options, hooks, out);
  run.stdout_text = out.str();
  return run;
}

// Exactly one JSON document followed by a newline.
json single_document(const std::string& text) {
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\n'), text.size() - 1);
  return json::parse(text);
}

}  // namespace

TEST(LocalMode, PrintsExactlyOneJsonDocumentAndExitsZero) {
  sdxlw::LocalRunOptions options;
  options.test_input = R"({"input": {"prompt": "p", "num_inference_steps": 2, "seed": 8}})";
  auto run = run_local(options);
  EXPECT_EQ(run.code, 0);
  json out = single_document(run.stdout_text);
  EXPECT_EQ(out["seed"], 8);
  EXPECT_EQ(out["images"].size(), 1u);
}

TEST(LocalMode, LoadsTheEngineWithTheJobsLoraSetSoItIsMergedOnce) {
  sdxlw::LocalRunOptions options;
  options.test_input = R"({"input": {"prompt": "p", "num_inference_steps": 1, "loras": []}})";
  auto run = run_local(options);
  EXPECT_EQ(run.code, 0);
  ASSERT_TRUE(run.engine_loras.has_value());
  EXPECT_TRUE(run.engine_loras->empty());

  options.test_input = R"({"input": {"prompt": "p", "num_inference_steps": 1}})";
  run = run_local(options);
  EXPECT_EQ(run.code, 0);
  EXPECT_FALSE(run.engine_loras.has_value()) << "no loras field: the models.json default set";
}

TEST(LocalMode, ReadsTheTestInputFileWhenNoFlagIsGiven) {
  sdxlw::test::TempDir dir;
  sdxlw::write_file((dir / "test_input.json").string(),
                    R"({"id": "mine", "input": {"prompt": "p", "num_inference_steps": 1, "seed": 4}})");
  sdxlw::LocalRunOptions options;
  options.test_input_file = (dir / "test_input.json").string();
  options.output_dir = (dir / "png").string();
  auto run = run_local(options);
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(single_document(run.stdout_text)["seed"], 4);
  EXPECT_TRUE(std::filesystem::exists(dir / "png/mine_0.png"));
}

TEST(LocalMode, MissingTestInputSaysHowToPassAJob) {
  sdxlw::test::TempDir dir;
  sdxlw::LocalRunOptions options;
  options.test_input_file = (dir / "test_input.json").string();
  auto run = run_local(options);
  EXPECT_EQ(run.code, 1);
  std::string error = single_document(run.stdout_text)["error"];
  EXPECT_NE(error.find("test_input.json not found"), std::string::npos) << error;
  EXPECT_NE(error.find("--test_input"), std::string::npos) << error;
  EXPECT_EQ(run.engine_loads, 0);
}

TEST(LocalMode, MalformedOrIncompleteTestInputIsAJsonError) {
  sdxlw::LocalRunOptions options;
  options.test_input = R"({"input": {"prompt": )";
  auto run = run_local(options);
  EXPECT_EQ(run.code, 1);
  std::string error = single_document(run.stdout_text)["error"];
  EXPECT_EQ(error.rfind("--test_input is not valid JSON: parse error at line 1, column 22", 0), 0u) << error;

  options.test_input = R"({"prompt": "forgot the input wrapper"})";
  run = run_local(options);
  EXPECT_EQ(single_document(run.stdout_text),
            json({{"error", "--test_input has no \"input\": expected {\"input\": {\"prompt\": \"...\"}}"}}));
  EXPECT_EQ(run.code, 1);
}

TEST(LocalMode, BadJobFailsBeforeTheEngineIsLoaded) {
  sdxlw::LocalRunOptions options;
  options.test_input = R"({"input": {"prompt": "p", "width": 1000, "num_images": 9}})";
  auto run = run_local(options);
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(single_document(run.stdout_text),
            json({{"error", "invalid input: width must be a multiple of 64 (got 1000); num_images "
                            "must be between 1 and 8 (got 9)"}}));
  EXPECT_EQ(run.engine_loads, 0);
}

TEST(LocalMode, EngineLoadFailureIsAJsonError) {
  sdxlw::LocalRunOptions options;
  options.test_input = R"({"input": {"prompt": "p"}})";
  auto run = run_local(options, nullptr, [] {
    throw std::runtime_error("checkpoint \"models/x.safetensors\" is truncated: header says 100 bytes, file has 10");
  });
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(single_document(run.stdout_text),
            json({{"error", "checkpoint \"models/x.safetensors\" is truncated: header says 100 bytes, file has 10"}}));
}

TEST(LocalMode, BadModelsJsonIsAJsonError) {
  sdxlw::LocalRunOptions options;
  options.test_input = R"({"input": {"prompt": "p"}})";
  auto run = run_local(options, nullptr, nullptr,
                       [] { throw std::runtime_error("models.json: checkpoint.filename is missing"); });
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(single_document(run.stdout_text), json({{"error", "models.json: checkpoint.filename is missing"}}));
}

TEST(LocalMode, GenerationFailureExitsOne) {
  sdxlw::LocalRunOptions options;
  options.test_input = R"({"input": {"prompt": "p", "num_inference_steps": 2}})";
  FakeEngine failing;
  failing.throw_message = "engine exploded";
  auto run = run_local(options, &failing);
  EXPECT_EQ(run.code, 1);
  EXPECT_EQ(single_document(run.stdout_text), json({{"error", "engine exploded"}}));
}
