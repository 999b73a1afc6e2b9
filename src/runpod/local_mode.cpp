#include "runpod/local_mode.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "runpod/job_handler.h"
#include "runpod/job_output.h"

namespace sdxlw {
namespace {

std::string parse_error_text(const std::string& what) {
  auto pos = what.find("] ");
  return pos == std::string::npos ? what : what.substr(pos + 2);
}

nlohmann::json parse_document(const std::string& text, const std::string& source) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(source + " is not valid JSON: " + parse_error_text(e.what()));
  }
}

}  // namespace

nlohmann::json read_local_job(const LocalRunOptions& options) {
  nlohmann::json job;
  std::string source;
  if (options.test_input) {
    source = "--test_input";
    spdlog::info("local: using --test_input as the job");
    job = parse_document(*options.test_input, source);
  } else {
    source = options.test_input_file;
    std::ifstream file(options.test_input_file, std::ios::binary);
    if (!file) {
      throw std::runtime_error("no job to run: " + options.test_input_file + " not found in " +
                               std::filesystem::current_path().string() +
                               "; pass --test_input '{\"input\": {\"prompt\": \"...\"}}' or create "
                               "that file");
    }
    std::ostringstream text;
    text << file.rdbuf();
    spdlog::info("local: using {} as the job", options.test_input_file);
    job = parse_document(text.str(), source);
  }
  if (!job.is_object())
    throw std::runtime_error(source + " must be a JSON object like {\"input\": {\"prompt\": \"...\"}}");
  auto input = job.find("input");
  if (input == job.end() || input->is_null())
    throw std::runtime_error(source + " has no \"input\": expected {\"input\": {\"prompt\": \"...\"}}");
  return job;
}

int run_local(const LocalRunOptions& options, const LocalRunHooks& hooks, std::ostream& out) {
  nlohmann::json result;
  try {
    nlohmann::json job = read_local_job(options);
    std::string id = "local_test";
    if (auto it = job.find("id"); it != job.end() && it->is_string() && !it->get<std::string>().empty())
      id = it->get<std::string>();
    JobValidationContext context = hooks.prepare();
    GenerationRequest request = parse_job_input(job["input"], context);
    std::unique_ptr<ImageGenerator> engine = hooks.load_engine(request);
    JobHandler handler(*engine, context, JobHandlerOptions{options.output_dir});
    result = handler.run(id, request);
  } catch (const std::exception& e) {
    spdlog::error("local: {}", e.what());
    result = error_output(e.what());
  }
  out << dump_json(result) << '\n';
  out.flush();
  return is_error_output(result) ? 1 : 0;
}

}  // namespace sdxlw
