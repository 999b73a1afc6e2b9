#pragma once
// A stand-in for the torch engine: small real PNGs whose pixels encode the seed and the image
// index, progress at every step, and hooks to hold a job mid-way or make it fail.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "core/generation.h"
#include "io/png.h"

namespace sdxlw::test {

class FakeEngine : public ImageGenerator {
 public:
  // Called after each step's progress callback, on the generating thread.
  std::function<void(int step)> on_step;
  std::chrono::milliseconds step_delay{0};
  std::string throw_message;  // non-empty: generate() throws std::runtime_error after step 1
  bool throw_unusable = false;  // with throw_message: throws EngineUnusable instead

  // Makes the next generate() stop before step `step` until release().
  void hold_at_step(int step) {
    std::lock_guard<std::mutex> lock(mutex_);
    hold_step_ = step;
    held_ = false;
    released_ = false;
  }
  // Waits until a generate() is held; false after `timeout`.
  bool wait_held(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return held_; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
    cv_.notify_all();
  }

  std::vector<GenerationRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

  // The pixel value the fake writes for image `index` of a job with this seed.
  static uint8_t shade(uint64_t seed, int index) { return static_cast<uint8_t>((seed * 7 + index * 50) % 256); }

  GenerationResult generate(const GenerationRequest& request, const ProgressCallback& progress) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(request);
    }
    auto start = std::chrono::steady_clock::now();
    for (int step = 1; step <= request.steps; ++step) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (hold_step_ == step) {
          held_ = true;
          cv_.notify_all();
          cv_.wait(lock, [this] { return released_; });
          hold_step_ = 0;
          held_ = false;
        }
      }
      if (step_delay.count() > 0) std::this_thread::sleep_for(step_delay);
      if (progress) {
        double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        progress(StepProgress{step, request.steps, elapsed});
      }
      if (on_step) on_step(step);
      if (step == 1 && !throw_message.empty()) {
        if (throw_unusable) throw EngineUnusable(throw_message);
        throw std::runtime_error(throw_message);
      }
    }
    GenerationResult result;
    // Images are 8×8 whatever the request asks, to keep the tests fast.
    for (int i = 0; i < request.num_images; ++i) {
      std::vector<uint8_t> pixels(8 * 8 * 3, shade(request.seed, i));
      result.png_images.push_back(encode_png_rgb8(pixels.data(), 8, 8));
    }
    result.seed = request.seed;
    if (request.loras) {
      for (const auto& l : *request.loras) result.loras.push_back({l.name, l.scale, 0});
    } else {
      result.loras.push_back({"lora_a", 1.0, 2});
    }
    result.timings = {12.34, 56.78, 9.01, 2.345, 80.0};
    return result;
  }

  std::string model_name() const override { return "fake-sdxl"; }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<GenerationRequest> requests_;
  int hold_step_ = 0;
  bool held_ = false;
  bool released_ = false;
};

}  // namespace sdxlw::test
