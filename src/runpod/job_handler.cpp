#include "runpod/job_handler.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "core/errors.h"
#include "io/file_util.h"
#include "runpod/job_output.h"

namespace sdxlw {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::string file_safe_id(const std::string& job_id) {
  std::string out = job_id.empty() ? "job" : job_id;
  for (char& c : out) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (out == "." || out == "..") out = "job";
  return out;
}

std::string job_id_of(const nlohmann::json& job, const std::string& fallback) {
  if (!job.is_object()) return fallback;
  auto it = job.find("id");
  if (it == job.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return dump_json(*it);
}

JobHandler::JobHandler(ImageGenerator& engine, JobValidationContext context,
                       JobHandlerOptions options)
    : engine_(engine), context_(std::move(context)), options_(std::move(options)) {}

GenerationRequest JobHandler::validate(const nlohmann::json& input) const {
  return parse_job_input(input, context_);
}

bool JobHandler::engine_unusable() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return !unusable_reason_.empty();
}

nlohmann::json JobHandler::handle(const nlohmann::json& job, const ProgressCallback& progress) {
  std::string id = job_id_of(job, "unknown");
  GenerationRequest request;
  try {
    if (!job.is_object())
      throw InvalidRequest("job must be a JSON object with \"id\" and \"input\"");
    auto input = job.find("input");
    if (input == job.end() || input->is_null())
      throw InvalidRequest("job has no input: expected {\"input\": {\"prompt\": ...}}");
    request = validate(*input);
  } catch (const std::exception& e) {
    spdlog::warn("job {}: rejected: {}", id, e.what());
    return error_output(e.what());
  }
  return run(id, request, progress);
}

nlohmann::json JobHandler::run(const std::string& job_id, const GenerationRequest& request,
                               const ProgressCallback& progress) {
  std::lock_guard<std::mutex> run_lock(run_mutex_);
  auto start = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    if (!unusable_reason_.empty()) {
      spdlog::error("job {}: not run: the engine is unusable ({})", job_id, unusable_reason_);
      return error_output("the worker's engine is unusable after an earlier error (" +
                              unusable_reason_ + "); the worker needs a restart",
                          true);
    }
  }
  spdlog::debug("job {}: started", job_id);
  try {
    return generate(job_id, request, progress);
  } catch (const InvalidRequest& e) {
    spdlog::warn("job {}: rejected after {:.2f} s: {}", job_id, seconds_since(start), e.what());
    return error_output(e.what());
  } catch (const EngineUnusable& e) {
    spdlog::error("job {}: failed after {:.2f} s, engine unusable: {}", job_id,
                  seconds_since(start), e.what());
    {
      std::lock_guard<std::mutex> lock(state_mutex_);
      unusable_reason_ = e.what();
    }
    return error_output(e.what(), true);
  } catch (const std::exception& e) {
    spdlog::error("job {}: failed after {:.2f} s: {}", job_id, seconds_since(start), e.what());
    return error_output(e.what());
  } catch (...) {
    spdlog::error("job {}: failed after {:.2f} s: unknown exception", job_id, seconds_since(start));
    return error_output("internal error: unknown exception");
  }
}

nlohmann::json JobHandler::generate(const std::string& job_id, const GenerationRequest& request,
                                    const ProgressCallback& progress) {
  auto start = std::chrono::steady_clock::now();
  GenerationResult result = engine_.generate(request, progress);
  if (result.png_images.size() != static_cast<size_t>(request.num_images))
    throw std::runtime_error("engine returned " + std::to_string(result.png_images.size()) +
                             " images for num_images " + std::to_string(request.num_images));
  if (!options_.output_dir.empty()) write_images(job_id, result);
  nlohmann::json output = job_output(request, result, engine_.model_name());
  spdlog::info("job {}: done {}x{}, {} step{}, {} image{}, {}, seed {}, {:.2f} s", job_id,
               request.width, request.height, request.steps, request.steps == 1 ? "" : "s",
               request.num_images, request.num_images == 1 ? "" : "s", request.scheduler,
               request.seed, seconds_since(start));
  return output;
}

void JobHandler::write_images(const std::string& job_id, const GenerationResult& result) const {
  std::error_code ec;
  std::filesystem::create_directories(options_.output_dir, ec);
  if (ec)
    throw std::runtime_error("cannot create output directory \"" + options_.output_dir +
                             "\": " + ec.message());
  for (size_t i = 0; i < result.png_images.size(); ++i) {
    auto path = std::filesystem::path(options_.output_dir) /
                (file_safe_id(job_id) + "_" + std::to_string(i) + ".png");
    write_file(path.string(), result.png_images[i]);
    spdlog::info("job {}: wrote {}", job_id, path.string());
  }
}

}  // namespace sdxlw
