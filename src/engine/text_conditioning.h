#pragma once
// Prompt → token chunks → SDXL text conditioning (tests/fixtures/README.md §2 steps 1–4):
// context = concat(CLIP-L penultimate, bigG penultimate) per 77-token chunk, chunks concatenated
// along the sequence; pooled = bigG pooled output of the first chunk; "" negative → zeros.

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "nn/clip_text.h"
#include "text/clip_tokenizer.h"

namespace sdxlw::engine {

// Text encoder 1 pads chunks with EOS, text encoder 2 with 0.
inline constexpr int32_t kTe1Pad = ClipTokenizer::kEos;
inline constexpr int32_t kTe2Pad = 0;

// The chunks of a prompt pair, both padded with empty-string chunks to the same count.
struct PromptTokens {
  at::Tensor te1, te2;          // [n, 77] int64, CPU
  at::Tensor neg_te1, neg_te2;  // [n, 77] int64, CPU; undefined when the negative prompt is ""
  bool zero_negative() const { return !neg_te1.defined(); }
  int64_t chunks() const { return te1.size(0); }
};

// Throws InvalidRequest when a prompt is not valid UTF-8.
PromptTokens tokenize_prompts(const ClipTokenizer& tokenizer, const std::string& prompt,
                              const std::string& negative_prompt);

struct TextConditioning {
  PromptTokens tokens;
  at::Tensor cond_context, uncond_context;  // [n·77, TE1 width + TE2 width]
  at::Tensor cond_pooled, uncond_pooled;    // [TE2 projection]
};

// Runs both text encoders on every chunk of both prompts as one batch on the encoders' device;
// results in the encoders' dtype on that device.
TextConditioning encode_prompts(const nn::ClipTextModel& te1, const nn::OpenClipTextModel& te2, PromptTokens tokens);

}  // namespace sdxlw::engine
