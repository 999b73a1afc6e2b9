#pragma once
// The contract between the job layer (runpod/, app/) and the torch engine (engine/).
// Torch-free: the serverless loop, the local API and their tests build against this alone.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sdxlw {

struct LoraChoice {
  std::string name;  // as listed in models.json
  double scale = 1.0;
};

// A validated job (DESIGN §2), every default already applied.
struct GenerationRequest {
  std::string prompt;
  std::string negative_prompt;  // "" = zero negative conditioning
  int width = 1024;
  int height = 1024;
  int steps = 30;
  double guidance_scale = 7.0;  // <= 1 disables classifier-free guidance
  std::string scheduler = "euler";  // canonical name: euler euler_a dpmpp_2m dpmpp_2m_karras ddim
  uint64_t seed = 0;                // already resolved when the job asked for a random one
  int num_images = 1;
  std::optional<std::vector<LoraChoice>> loras;  // nullopt = the models.json default set
};

struct StepProgress {
  int step = 0;   // steps done, 1..total
  int total = 0;
  double elapsed_s = 0;  // since denoising started
};
using ProgressCallback = std::function<void(const StepProgress&)>;

struct GenerationTimings {
  double text_encode_ms = 0;
  double denoise_ms = 0;
  double decode_ms = 0;
  double encode_png_ms = 0;
  double total_ms = 0;
};

struct AppliedLora {
  std::string name;
  double scale = 1.0;
  int unmatched_keys = 0;  // LoRA keys that matched no weight of the loaded model
};

struct GenerationResult {
  std::vector<std::string> png_images;  // encoded PNG files, one per image
  uint64_t seed = 0;
  std::vector<AppliedLora> loras;
  GenerationTimings timings;
};

// One loaded model that turns requests into images. Calls are serialised by the caller.
class ImageGenerator {
 public:
  virtual ~ImageGenerator() = default;
  virtual GenerationResult generate(const GenerationRequest& request,
                                    const ProgressCallback& progress) = 0;
  virtual std::string model_name() const = 0;
};

}  // namespace sdxlw
