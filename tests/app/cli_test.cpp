#include <gtest/gtest.h>

#include <map>

#include "app/cli.h"
#include "support/env_of.h"

using sdxlw::CliError;
using sdxlw::CliOptions;
using sdxlw::Mode;
using sdxlw::test::env_of;

namespace {

CliOptions parse(const std::vector<std::string>& args) { return sdxlw::parse_cli(args); }

std::string error_of(const std::vector<std::string>& args) {
  try {
    sdxlw::parse_cli(args);
  } catch (const CliError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Cli, DefaultsMatchTheDesign) {
  CliOptions o = parse({});
  EXPECT_FALSE(o.serve_api);
  EXPECT_EQ(o.api_host, "127.0.0.1");
  EXPECT_EQ(o.api_port, 8000);
  EXPECT_FALSE(o.test_input.has_value());
  EXPECT_EQ(o.models_file, "models.json");
  EXPECT_EQ(o.models_dir, "");
  EXPECT_EQ(o.device, "auto");
  EXPECT_EQ(o.dtype, "auto");
  EXPECT_FALSE(o.download_only);
}

TEST(Cli, AcceptsSpaceAndEqualsFormsAndBothSeparators) {
  CliOptions o = parse({"--rp_serve_api", "--rp_api_host=0.0.0.0", "--rp_api_port", "9000",
                        "--test_input", R"({"input": {"prompt": "a=b"}})", "--output-dir=out",
                        "--models", "m.json", "--models_dir", "/cache", "--download-only",
                        "--device=CPU", "--dtype", "bf16", "--rp_log_level=DEBUG"});
  EXPECT_TRUE(o.serve_api);
  EXPECT_EQ(o.api_host, "0.0.0.0");
  EXPECT_EQ(o.api_port, 9000);
  EXPECT_EQ(*o.test_input, R"({"input": {"prompt": "a=b"}})");
  EXPECT_EQ(o.output_dir, "out");
  EXPECT_EQ(o.models_file, "m.json");
  EXPECT_EQ(o.models_dir, "/cache");
  EXPECT_TRUE(o.download_only);
  EXPECT_EQ(o.device, "cpu");
  EXPECT_EQ(o.dtype, "bf16");
  EXPECT_EQ(o.log_level, "DEBUG");
  EXPECT_EQ(*parse({"--test_input={\"input\": {\"prompt\": \"x=y\"}}"}).test_input,
            "{\"input\": {\"prompt\": \"x=y\"}}");
}

TEST(Cli, VersionAndHelpAreFlags) {
  EXPECT_TRUE(parse({"--version"}).version);
  EXPECT_TRUE(parse({"--help"}).help);
  EXPECT_TRUE(parse({"-h"}).help);
}

TEST(Cli, BadArgumentsAreNamed) {
  EXPECT_EQ(error_of({"--rp_debugger"}), "unknown option --rp_debugger");
  EXPECT_EQ(error_of({"--models"}), "--models needs a value");
  EXPECT_EQ(error_of({"--rp_serve_api=yes"}), "--rp_serve_api takes no value");
  EXPECT_EQ(error_of({"models.json"}), "unexpected argument \"models.json\" (every option starts with --)");
  EXPECT_EQ(error_of({"--rp_api_port", "80x"}), "--rp_api_port must be a port number from 1 to 65535 (got \"80x\")");
  EXPECT_EQ(error_of({"--rp_api_port=70000"}), "--rp_api_port must be a port number from 1 to 65535 (got \"70000\")");
  EXPECT_EQ(error_of({"--device", "tpu"}), "--device must be auto|cpu|cuda (got \"tpu\")");
  EXPECT_EQ(error_of({"--dtype", "int8"}), "--dtype must be auto|fp32|bf16|fp16 (got \"int8\")");
  EXPECT_EQ(error_of({"--rp_log_level", "LOUD"}),
            "--rp_log_level must be one of ERROR, WARN, INFO, DEBUG, TRACE (got \"LOUD\")");
}

TEST(Cli, ModeFollowsThePythonSdk) {
  auto serverless_env = env_of({{"RUNPOD_WEBHOOK_GET_JOB", "http://h/take/$ID"}});
  EXPECT_EQ(sdxlw::select_mode(parse({}), env_of({})), Mode::local);
  EXPECT_EQ(sdxlw::select_mode(parse({}), serverless_env), Mode::serverless);
  EXPECT_EQ(sdxlw::select_mode(parse({"--test_input", "{}"}), serverless_env), Mode::local);
  EXPECT_EQ(sdxlw::select_mode(parse({"--rp_serve_api"}), serverless_env), Mode::local_api);
  EXPECT_EQ(sdxlw::select_mode(parse({"--rp_serve_api", "--test_input", "{}"}), env_of({})), Mode::local_api);
}

TEST(Cli, UsageNamesEveryOption) {
  std::string text = sdxlw::usage();
  for (const char* flag : {"--rp_serve_api", "--rp_api_host", "--rp_api_port", "--test_input",
                           "--output-dir", "--models ", "--models-dir", "--download-only", "--device",
                           "--dtype", "--rp_log_level", "--version", "--help"})
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
}
