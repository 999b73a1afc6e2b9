#pragma once
// Local mode (DESIGN §3): one job from --test_input or ./test_input.json, run once, exactly one
// JSON document on stdout (the output, or {"error": ...}), exit 0 on success and 1 on error.

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/generation.h"
#include "runpod/job_input.h"

namespace sdxlw {

struct LocalRunOptions {
  std::optional<std::string> test_input;            // --test_input JSON text
  std::string test_input_file = "test_input.json";  // read when test_input is unset
  std::string output_dir;                           // --output-dir: also write the PNGs here
};

// The steps that need the model set, supplied by the app (and by tests). Both may throw; the
// message becomes the job's error.
struct LocalRunHooks {
  std::function<JobValidationContext()> prepare;                 // reads models.json
  // Fetches the files and loads the weights for the validated job (its LoRA set is merged once).
  std::function<std::unique_ptr<ImageGenerator>(const GenerationRequest&)> load_engine;
};

// The job document {"input": {...}, "id"?}. Throws std::runtime_error saying what is wrong with
// it and how to pass a job.
nlohmann::json read_local_job(const LocalRunOptions& options);

// Reads and validates the job before loading the engine (bad jobs fail fast), runs it, and
// writes one JSON document and a newline to `out`. Returns the exit code.
int run_local(const LocalRunOptions& options, const LocalRunHooks& hooks, std::ostream& out);

}  // namespace sdxlw
