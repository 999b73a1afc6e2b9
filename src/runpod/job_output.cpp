#include "runpod/job_output.h"

#include <cmath>

#include "io/base64.h"

namespace sdxlw {
namespace {

double round_ms(double ms) { return std::round(ms * 10.0) / 10.0; }

}  // namespace

nlohmann::json job_output(const GenerationRequest& request, const GenerationResult& result,
                          const std::string& model_name) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& png : result.png_images) images.push_back(base64_encode(png));

  nlohmann::json loras = nlohmann::json::array();
  for (const auto& l : result.loras)
    loras.push_back({{"name", l.name}, {"scale", l.scale}, {"unmatched_keys", l.unmatched_keys}});

  nlohmann::json parameters = {
      {"prompt", request.prompt},
      {"negative_prompt", request.negative_prompt},
      {"width", request.width},
      {"height", request.height},
      {"num_inference_steps", request.steps},
      {"guidance_scale", request.guidance_scale},
      {"scheduler", request.scheduler},
      {"seed", request.seed},
      {"num_images", request.num_images},
      {"loras", std::move(loras)},
      {"model", model_name},
  };
  const auto& t = result.timings;
  nlohmann::json timings = {
      {"text_encode", round_ms(t.text_encode_ms)}, {"denoise", round_ms(t.denoise_ms)},
      {"decode", round_ms(t.decode_ms)},           {"encode_png", round_ms(t.encode_png_ms)},
      {"total", round_ms(t.total_ms)},
  };
  return {{"images", std::move(images)},
          {"seed", request.seed},
          {"image_format", "png"},
          {"parameters", std::move(parameters)},
          {"timings_ms", std::move(timings)}};
}

nlohmann::json error_output(const std::string& message, bool refresh_worker) {
  nlohmann::json out = {{"error", message}};
  if (refresh_worker) out["refresh_worker"] = true;
  return out;
}

bool is_error_output(const nlohmann::json& output) {
  if (!output.is_object()) return false;
  auto it = output.find("error");
  if (it == output.end() || it->is_null()) return false;
  if (it->is_string()) return !it->get_ref<const std::string&>().empty();
  if (it->is_boolean()) return it->get<bool>();
  return true;
}

std::string error_message(const nlohmann::json& output) {
  if (!output.is_object()) return "";
  auto it = output.find("error");
  if (it == output.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return dump_json(*it);
}

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sdxlw
