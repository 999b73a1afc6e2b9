// The deployment files agree with what the tests exercise: the Docker image builds with the
// README's scripts, its runtime stage only copies what the build produces, the RunPod Hub files
// carry the fields the Hub requires, and the sample jobs are valid jobs.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/file_util.h"
#include "runpod/job_input.h"
#include "store/models_config.h"
#include "support/paths.h"

namespace fs = std::filesystem;
using nlohmann::json;
using sdxlw::test::binary_dir;
using sdxlw::test::source_dir;

namespace {

std::string repo_file(const std::string& rel) { return sdxlw::read_file((source_dir() / rel).string()); }

// The README's opening shell commands: the lines of its first fenced code block.
std::vector<std::string> readme_commands() {
  std::istringstream in(repo_file("README.md"));
  std::vector<std::string> commands;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      if (inside) break;
      inside = true;
      continue;
    }
    if (!inside || line.empty()) continue;
    auto hash = line.find("  #");
    std::string command = hash == std::string::npos ? line : line.substr(0, hash);
    while (!command.empty() && command.back() == ' ') command.pop_back();
    commands.push_back(command);
  }
  return commands;
}

struct Stage {
  std::string name;
  std::string body;  // instructions joined, line continuations folded
};

// Splits the Dockerfile into stages ("FROM image AS name" ... up to the next FROM).
std::vector<Stage> dockerfile_stages() {
  std::istringstream in(repo_file("Dockerfile"));
  std::vector<Stage> stages;
  std::string line, pending;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    std::string instruction = pending + line;
    pending.clear();
    std::smatch m;
    if (std::regex_search(instruction, m, std::regex(R"(^FROM\s+\S+(?:\s+AS\s+(\S+))?)", std::regex::icase))) {
      stages.push_back({m[1].str(), ""});
      continue;
    }
    if (!stages.empty()) stages.back().body += instruction + "\n";
  }
  return stages;
}

const Stage& stage_named(const std::vector<Stage>& stages, const std::string& name) {
  for (const auto& s : stages)
    if (s.name == name) return s;
  throw std::runtime_error("Dockerfile has no stage named " + name);
}

}  // namespace

TEST(Deployment, ReadmeOpensWithTheBuildAndTestCommands) {
  auto commands = readme_commands();
  ASSERT_EQ(commands.size(), 2u) << "the README's first code block must hold exactly two commands";
  EXPECT_NE(commands[0].find("scripts/build.sh"), std::string::npos) << commands[0];
  EXPECT_NE(commands[0].find("sdxl-worker"), std::string::npos) << commands[0];
  EXPECT_NE(commands[1].find("scripts/test.sh"), std::string::npos) << commands[1];
}

TEST(Deployment, CiRunsTheReadmeTestCommandVerbatim) {
  auto test_command = readme_commands().at(1);
  EXPECT_NE(repo_file(".ci/run").find("\n" + test_command + "\n"), std::string::npos)
      << ".ci/run must run: " << test_command;
  EXPECT_NE(repo_file(".github/workflows/ci.yml").find("run: " + test_command), std::string::npos)
      << "ci.yml must run: " << test_command;
}

TEST(Deployment, DockerBuilderUsesTheReadmeInstallScriptAndBuildScript) {
  auto builder = stage_named(dockerfile_stages(), "builder");
  EXPECT_TRUE(std::regex_search(builder.body, std::regex(R"(RUN .*scripts/install-deps\.sh)")));
  EXPECT_TRUE(std::regex_search(builder.body, std::regex(R"(RUN .*scripts/build\.sh)")));
  // scripts/build.sh itself runs the install script and the CMake commands the README runs.
  auto build_script = repo_file("scripts/build.sh");
  EXPECT_NE(build_script.find("scripts/install-deps.sh"), std::string::npos);
  EXPECT_NE(build_script.find("cmake -S . -B build"), std::string::npos);
  EXPECT_NE(build_script.find("cmake --build build"), std::string::npos);
  // No second recipe: the image never calls cmake directly.
  for (const auto& stage : dockerfile_stages())
    EXPECT_EQ(stage.body.find("cmake "), std::string::npos) << "stage " << stage.name;
}

TEST(Deployment, EveryFileTheRuntimeStageCopiesExistsInTheBuild) {
  auto stages = dockerfile_stages();
  const Stage& runtime = stages.back();
  std::smatch m;
  std::string body = runtime.body;
  int copies = 0;
  std::regex copy_re(R"(COPY\s+--from=(\S+)\s+(\S+)\s+(\S+))");
  for (std::sregex_iterator it(body.begin(), body.end(), copy_re), end; it != end; ++it) {
    ++copies;
    std::string from = (*it)[1], src = (*it)[2];
    while (src.size() > 1 && src.back() == '/') src.pop_back();
    // The source must be produced inside the stage it comes from (or the stage it builds on).
    std::string producers = stage_named(stages, from).body;
    if (from != "builder") producers += stage_named(stages, "builder").body;
    EXPECT_NE(producers.find(src), std::string::npos) << src << " is never written in stage " << from;
  }
  EXPECT_GE(copies, 3);

  // Every file installed into /out comes from the repository or from the build directory.
  const Stage& builder = stage_named(stages, "builder");
  std::regex install_re(R"(install\s+-D\s+-m\s+\d+\s+(\S+)\s+(/out/\S+))");
  int installs = 0;
  for (std::sregex_iterator it(builder.body.begin(), builder.body.end(), install_re), end; it != end;
       ++it) {
    ++installs;
    std::string src = (*it)[1];
    fs::path path = src.rfind("build/", 0) == 0 ? binary_dir() / src.substr(6) : source_dir() / src;
    EXPECT_TRUE(fs::exists(path)) << src << " (looked at " << path << ")";
  }
  EXPECT_GE(installs, 4) << "the binary, the tokenizer asset, models.json and test_input.json";
  EXPECT_NE(builder.body.find("collect-runtime-libs.sh build/sdxl-worker /out/lib"), std::string::npos);
  EXPECT_TRUE(fs::exists(source_dir() / "scripts/collect-runtime-libs.sh"));
}

TEST(Deployment, RuntimeStageInstallsTheCaBundleThatHttpsDownloadsNeed) {
  const Stage& runtime = dockerfile_stages().back();
  EXPECT_TRUE(std::regex_search(runtime.body, std::regex(R"(apt-get install[^\n]*ca-certificates)")));
}

TEST(Deployment, DockerfilePinsLibtorchBySha256AndKeepsTheCivitaiKeyOutOfLayers) {
  auto dockerfile = repo_file("Dockerfile");
  EXPECT_TRUE(std::regex_search(dockerfile, std::regex(R"(ARG LIBTORCH_SHA256=[0-9a-f]{64})")));
  EXPECT_NE(dockerfile.find("sha256sum -c"), std::string::npos);
  EXPECT_NE(dockerfile.find("--mount=type=secret,id=civitai_api_key"), std::string::npos);
  EXPECT_EQ(dockerfile.find("ENV CIVITAI_API_KEY"), std::string::npos);
  EXPECT_EQ(dockerfile.find("ARG CIVITAI_API_KEY"), std::string::npos);
  EXPECT_NE(dockerfile.find("ENTRYPOINT [\"/opt/sdxl-worker/bin/sdxl-worker\"]"), std::string::npos);
}

TEST(Deployment, HubJsonCarriesEveryRequiredField) {
  auto hub = json::parse(repo_file(".runpod/hub.json"));
  for (const char* key : {"title", "description", "type", "category", "config"})
    EXPECT_TRUE(hub.contains(key)) << key;
  EXPECT_EQ(hub["type"], "serverless");
  const std::set<std::string> categories = {"audio", "embedding", "language", "video", "image"};
  EXPECT_TRUE(categories.count(hub["category"].get<std::string>()));
  const auto& config = hub["config"];
  EXPECT_EQ(config["runsOn"], "GPU");
  EXPECT_TRUE(config["containerDiskInGb"].is_number_integer());
  EXPECT_TRUE(config["gpuCount"].is_number_integer());
  EXPECT_TRUE(config["gpuIds"].is_string());
  ASSERT_TRUE(config["allowedCudaVersions"].is_array());
  for (const auto& v : config["allowedCudaVersions"]) EXPECT_GE(v.get<std::string>(), "12.8");
  std::set<std::string> env_keys;
  for (const auto& e : config["env"]) {
    env_keys.insert(e["key"].get<std::string>());
    ASSERT_TRUE(e.contains("input")) << e.dump();
    for (const char* key : {"name", "type", "description"}) EXPECT_TRUE(e["input"].contains(key)) << e.dump();
  }
  EXPECT_TRUE(env_keys.count("CIVITAI_API_KEY"));
  EXPECT_TRUE(env_keys.count("MODELS_DIR"));
}

TEST(Deployment, HubTestsAndTestInputAreValidJobs) {
  auto models = sdxlw::load_models_config((source_dir() / "models.json").string());
  sdxlw::JobValidationContext context;
  for (const auto& lora : models.loras) context.known_loras.push_back({lora.name, *lora.scale});

  auto tests = json::parse(repo_file(".runpod/tests.json"));
  ASSERT_TRUE(tests["tests"].is_array());
  ASSERT_FALSE(tests["tests"].empty());
  for (const auto& t : tests["tests"]) {
    ASSERT_TRUE(t.contains("name") && t.contains("input") && t.contains("timeout")) << t.dump();
    EXPECT_NO_THROW(sdxlw::parse_job_input(t["input"], context)) << t["name"];
  }
  EXPECT_TRUE(tests["config"].contains("gpuTypeId"));

  auto test_input = json::parse(repo_file("test_input.json"));
  EXPECT_NO_THROW(sdxlw::parse_job_input(test_input.at("input"), context));
}

TEST(Deployment, ModelsJsonNamesTheSeedModels) {
  auto models = sdxlw::load_models_config((source_dir() / "models.json").string());
  EXPECT_EQ(models.checkpoint.filename, "jib_mix_illustrious_realistic_v2.safetensors");
  EXPECT_NE(models.checkpoint.url.find("/api/download/models/1590699"), std::string::npos);
  ASSERT_EQ(models.loras.size(), 1u);
  EXPECT_EQ(models.loras[0].name, "Detail Tweaker XL");
  EXPECT_EQ(models.loras[0].filename, "detail_tweaker_xl.safetensors");
  EXPECT_NE(models.loras[0].url.find("/api/download/models/135867"), std::string::npos);
  EXPECT_EQ(models.loras[0].scale, 1.5);
}
