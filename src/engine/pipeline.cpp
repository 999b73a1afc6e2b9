#include "engine/pipeline.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/errors.h"
#include "core/schedulers.h"
#include "engine/device.h"
#include "engine/image_output.h"
#include "engine/step_logger.h"
#include "nn/conditioning.h"
#include "sampling/guidance.h"
#include "sampling/scheduler.h"
#include "util/assets.h"

namespace sdxlw::engine {

namespace {

constexpr const char* kVocabAsset = "bpe_simple_vocab_16e6.txt.gz";
constexpr int kMaxSide = 4096;
constexpr int kMaxImages = 64;
constexpr int kMaxSteps = 1000;

class Stopwatch {
 public:
  double ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  }
  void reset() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

ClipTokenizer load_tokenizer(const std::string& vocab_path) {
  return ClipTokenizer::from_file(vocab_path.empty() ? find_asset(kVocabAsset) : vocab_path);
}

void to_channels_last(const std::vector<nn::ParamSlot>& slots) {
  for (const auto& slot : slots) {
    if (slot.tensor->dim() == 4) *slot.tensor = slot.tensor->contiguous(at::MemoryFormat::ChannelsLast);
  }
}

// [X...] → [n, X...] (a view; the UNet batch is built by cat or made contiguous after).
at::Tensor repeat(const at::Tensor& t, int64_t n) {
  std::vector<int64_t> sizes{n};
  for (int64_t s : t.sizes()) sizes.push_back(s);
  return t.unsqueeze(0).expand(sizes);
}

std::string lora_summary(const std::vector<AppliedLora>& loras) {
  if (loras.empty()) return "none";
  std::string out;
  for (const auto& l : loras) out += fmt::format("{}{} ×{:g}", out.empty() ? "" : ", ", l.name, l.scale);
  return out;
}

// Turns a failure inside a job into the error the job reports. Must be called from a catch block.
[[noreturn]] void rethrow_job_failure(const std::exception& e, const char* stage, at::Device device) {
  switch (classify_failure(e)) {
    case Failure::out_of_memory:
      try {
        release_cached_memory(device);
      } catch (const std::exception& release_error) {
        spdlog::warn("engine: freeing the GPU cache after running out of memory failed: {}",
                     error_message(release_error));
      }
      throw std::runtime_error(std::string(device.is_cuda() ? "out of GPU memory" : "out of memory") + " while " +
                               stage + " (try fewer images or a smaller size)");
    case Failure::device_fault:
      if (device.is_cuda()) {
        throw EngineUnusable(std::string("the GPU failed while ") + stage + ": " + error_message(e) +
                             " (the worker must be restarted)");
      }
      break;
    case Failure::other:
      break;
  }
  if (dynamic_cast<const c10::Error*>(&e)) {
    throw std::runtime_error(std::string("generation failed while ") + stage + ": " + error_message(e));
  }
  throw;
}

}  // namespace

Pipeline::Pipeline(const ModelFiles& files, const PipelineOptions& options)
    : files_(files), options_(options), tokenizer_(load_tokenizer(options.vocab_path)) {
  c10::InferenceMode guard;
  const Stopwatch watch;
  model_ = nn::load_sdxl_checkpoint(files_.checkpoint_path, options_.plan.load_options());
  load_timings_.checkpoint_s = watch.ms() / 1000.0;
  prepare();
}

Pipeline::Pipeline(nn::SdxlModel model, std::string model_name, const PipelineOptions& options)
    : options_(options), tokenizer_(load_tokenizer(options.vocab_path)), model_(std::move(model)) {
  c10::InferenceMode guard;
  files_.checkpoint_name = std::move(model_name);
  prepare();
}

void Pipeline::prepare() {
  Stopwatch watch;
  if (options_.plan.channels_last) {  // a no-op for weights loaded channels-last
    to_channels_last(model_.unet->parameters());
    to_channels_last(model_.vae->parameters());
  }
  load_timings_.checkpoint_s += watch.ms() / 1000.0;
  watch.reset();
  loras_ = std::make_unique<lora::LoraSet>(model_.parameters(), files_.loras);
  const std::vector<AppliedLora> applied = loras_->apply(options_.initial_loras);
  synchronize(options_.plan.device);
  release_cached_memory(options_.plan.device);  // the conversions' and merges' temporaries
  load_timings_.lora_s = watch.ms() / 1000.0;
  const std::string gpu = options_.plan.device.is_cuda() ? " on " + describe_device(options_.plan.device) : "";
  spdlog::info("engine: loaded \"{}\" in {:.2f} s ({}){}; {} LoRAs: {} (merged in {:.2f} s)",
               files_.checkpoint_name, load_timings_.checkpoint_s + load_timings_.lora_s, options_.plan.describe(),
               gpu, options_.initial_loras ? "start-up" : "default", lora_summary(applied), load_timings_.lora_s);
}

Pipeline::~Pipeline() = default;

int64_t Pipeline::latent_factor() const { return int64_t{1} << (model_.config.vae.ch_mult.size() - 1); }

int64_t Pipeline::size_multiple() const { return latent_factor() * (int64_t{1} << (model_.config.unet.levels() - 1)); }

void Pipeline::validate(const GenerationRequest& r) const {
  std::vector<std::string> problems;
  const int64_t multiple = size_multiple();
  auto check_side = [&](const char* name, int value) {
    if (value < multiple || value > kMaxSide || value % multiple != 0) {
      problems.push_back(
          fmt::format("{} must be a multiple of {} from {} to {} (got {})", name, multiple, multiple, kMaxSide, value));
    }
  };
  check_side("width", r.width);
  check_side("height", r.height);
  if (r.steps < 1 || r.steps > kMaxSteps) {
    problems.push_back(fmt::format("steps must be from 1 to {} (got {})", kMaxSteps, r.steps));
  }
  if (!std::isfinite(r.guidance_scale) || r.guidance_scale < 0) {
    problems.push_back(fmt::format("guidance_scale must be a finite number ≥ 0 (got {})", r.guidance_scale));
  }
  if (r.num_images < 1 || r.num_images > kMaxImages) {
    problems.push_back(fmt::format("num_images must be from 1 to {} (got {})", kMaxImages, r.num_images));
  }
  if (!canonical_scheduler_name(r.scheduler)) {
    std::string known;
    for (const auto& name : scheduler_names()) known += (known.empty() ? "" : ", ") + name;
    problems.push_back(fmt::format("scheduler \"{}\" is unknown (known: {})", r.scheduler, known));
  }
  if (problems.empty()) return;
  std::string message = "invalid request: ";
  for (size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
  throw InvalidRequest(message);
}

GenerationResult Pipeline::generate(const GenerationRequest& request, const ProgressCallback& progress,
                                    const PipelineHooks& hooks) {
  c10::InferenceMode guard;
  at::init_num_threads();  // this thread may be new (the local API runs jobs in the background)
  validate(request);
  const at::Device device = options_.plan.device;
  const Stopwatch total;
  const char* stage = "merging the LoRAs";
  try {
    reset_peak_memory(device);
    GenerationResult result;
    result.seed = request.seed;
    result.loras = loras_->apply(request.loras);

    stage = "encoding the prompt";
    Stopwatch watch;
    const TextConditioning text =
        encode_prompts(*model_.te1, *model_.te2, tokenize_prompts(tokenizer_, request.prompt, request.negative_prompt));
    if (hooks.on_text) hooks.on_text(text);
    synchronize(device);
    result.timings.text_encode_ms = watch.ms();

    stage = "denoising";
    watch.reset();
    const at::Tensor latents = denoise(request, text, progress, hooks);
    synchronize(device);
    result.timings.denoise_ms = watch.ms();
    if (hooks.on_latents) hooks.on_latents(latents);

    stage = "decoding the image";
    watch.reset();
    const at::Tensor image = decode_latents(*model_.vae, latents, options_.tiles);
    if (hooks.on_decoded) hooks.on_decoded(image);
    const at::Tensor rgb8 = to_rgb8(image);  // the copy to the CPU waits for the device
    result.timings.decode_ms = watch.ms();

    stage = "encoding the PNG";
    watch.reset();
    result.png_images = encode_pngs(rgb8);
    result.timings.encode_png_ms = watch.ms();
    result.timings.total_ms = total.ms();

    const GenerationTimings& t = result.timings;
    std::string memory;
    if (const int64_t peak = peak_memory_bytes(device); peak >= 0) {
      memory = fmt::format(", peak GPU memory {:.2f} GiB", static_cast<double>(peak) / (1024.0 * 1024.0 * 1024.0));
    }
    spdlog::info(
        "engine: generated {} image{} {}×{}, {} {} steps, guidance {:g}, seed {}, LoRAs {}: text {:.0f} ms, "
        "denoise {:.0f} ms ({:.2f} it/s), decode {:.0f} ms, png {:.0f} ms, total {:.0f} ms{}",
        request.num_images, request.num_images == 1 ? "" : "s", request.width, request.height, request.scheduler,
        request.steps, request.guidance_scale, request.seed, lora_summary(result.loras), t.text_encode_ms, t.denoise_ms,
        t.denoise_ms > 0 ? request.steps * 1000.0 / t.denoise_ms : 0.0, t.decode_ms, t.encode_png_ms, t.total_ms,
        memory);
    return result;
  } catch (const InvalidRequest&) {
    throw;
  } catch (const EngineUnusable&) {
    throw;
  } catch (const std::exception& e) {
    rethrow_job_failure(e, stage, device);
  }
}

at::Tensor Pipeline::denoise(const GenerationRequest& request, const TextConditioning& text,
                             const ProgressCallback& progress, const PipelineHooks& hooks) {
  const at::Device device = options_.plan.device;
  const int64_t n = request.num_images;
  const auto unet_dtype = options_.plan.unet_dtype;
  auto scheduler = sampling::make_scheduler(request.scheduler, request.steps);
  at::Generator generator = sampling::make_cpu_generator(request.seed);
  // float32 throughout the loop; the UNet computes in its own dtype and returns float32.
  at::Tensor latents = sampling::initial_latents(generator, n, request.height / latent_factor(),
                                                 request.width / latent_factor(), scheduler->init_noise_sigma())
                           .to(device);

  const bool cfg = sampling::uses_cfg(request.guidance_scale);
  at::Tensor context, pooled;  // [B, n·77, C], [B, P]; B = 2N with CFG (uncond first), else N
  if (cfg) {
    context = at::cat({repeat(text.uncond_context, n), repeat(text.cond_context, n)});
    pooled = at::cat({repeat(text.uncond_pooled, n), repeat(text.cond_pooled, n)});
  } else {
    context = repeat(text.cond_context, n).contiguous();
    pooled = repeat(text.cond_pooled, n).contiguous();
  }
  context = context.to(unet_dtype);
  const at::Tensor adm =
      nn::sdxl_adm(pooled.to(at::kFloat), request.height, request.width, model_.config.size_embed_dim).to(unet_dtype);
  // On the device once, so the loop never copies from the host.
  const at::Tensor timesteps = scheduler->timesteps().to(device);

  StepLogger logger(request.steps);
  for (int step = 0; step < request.steps; ++step) {
    at::Tensor x = scheduler->scale_model_input(cfg ? at::cat({latents, latents}) : latents, step);
    if (options_.plan.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor eps = model_.unet->forward(x, timesteps[step], context, adm);
    if (hooks.on_unet) hooks.on_unet(step, x, eps);
    latents = scheduler->step(cfg ? sampling::apply_cfg(eps, request.guidance_scale) : eps, step, latents, generator);
    logger.step(step + 1);
    if (progress) progress(StepProgress{step + 1, request.steps, logger.elapsed_s()});
  }
  return latents;
}

}  // namespace sdxlw::engine
