#pragma once
// The job contract's output (DESIGN §2): a generation result or an error, as JSON.

#include <string>

#include <nlohmann/json.hpp>

#include "core/generation.h"

namespace sdxlw {

// {"images": [base64 PNG...], "seed", "image_format": "png", "parameters": {every input field
// after defaults, "model", "loras": [{"name", "scale", "unmatched_keys"}]}, "timings_ms": {...}}.
nlohmann::json job_output(const GenerationRequest& request, const GenerationResult& result,
                          const std::string& model_name);

// {"error": message} (+ "refresh_worker": true).
nlohmann::json error_output(const std::string& message, bool refresh_worker = false);

bool is_error_output(const nlohmann::json& output);

// The output's "error" as a string whatever its JSON type ("" when there is none), so that a
// result's error always reaches RunPod as a string.
std::string error_message(const nlohmann::json& output);

// JSON text for the wire: UTF-8, compact; invalid UTF-8 in strings becomes U+FFFD instead of
// throwing.
std::string dump_json(const nlohmann::json& value);

}  // namespace sdxlw
