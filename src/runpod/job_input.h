#pragma once
// The job contract's input (DESIGN §2): JSON → a validated GenerationRequest, every problem of
// a bad input reported at once in one InvalidRequest.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/generation.h"

namespace sdxlw {

inline constexpr size_t kMaxPromptChars = 10000;  // Unicode code points
inline constexpr int kMinImageSide = 64;
inline constexpr int kMaxImageSide = 2048;
inline constexpr int kImageSideMultiple = 64;
inline constexpr int kMaxSteps = 150;
inline constexpr double kMaxGuidanceScale = 30.0;
inline constexpr int kMaxImages = 8;
inline constexpr double kMaxLoraScale = 10.0;  // |scale|
// Random seeds stay below 2^53 so that they survive every JSON parser that reads numbers as
// doubles (JavaScript): the seed a client copies from a result reproduces the image.
inline constexpr uint64_t kRandomSeedLimit = uint64_t{1} << 53;

struct JobValidationContext {
  std::vector<LoraChoice> known_loras;     // models.json LoRAs with their default scales
  std::function<uint64_t()> random_seed;  // empty: random_seed() below
};

// A uniformly random seed in [0, kRandomSeedLimit).
uint64_t random_seed();

// Validates `input` (job["input"]) and applies the defaults. Integers may be written as
// integral floats (1024.0); booleans are never numbers; null for an optional field means its
// default. Throws InvalidRequest whose what() is "invalid input: " followed by every problem,
// separated by "; ".
GenerationRequest parse_job_input(const nlohmann::json& input, const JobValidationContext& context);

// The names of the input fields, in the contract's order.
const std::vector<std::string>& job_input_fields();

}  // namespace sdxlw
