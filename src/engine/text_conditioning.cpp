#include "engine/text_conditioning.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "core/errors.h"

namespace sdxlw::engine {

namespace {

std::vector<int32_t> encode_text(const ClipTokenizer& tokenizer, const std::string& text, const char* field) {
  try {
    return tokenizer.encode(text);
  } catch (const std::invalid_argument& e) {
    throw InvalidRequest(std::string(field) + " is not valid UTF-8: " + e.what());
  }
}

using Chunks = std::vector<std::vector<int64_t>>;

void pad_to(Chunks& chunks, size_t count, int32_t pad_id) {
  const std::vector<int64_t> empty = make_chunks({}, pad_id).front();
  while (chunks.size() < count) chunks.push_back(empty);
}

at::Tensor to_tensor(const Chunks& chunks) {
  at::Tensor out = at::empty({static_cast<int64_t>(chunks.size()), ClipTokenizer::kContextLength}, at::kLong);
  int64_t* data = out.data_ptr<int64_t>();
  for (const auto& chunk : chunks) data = std::copy(chunk.begin(), chunk.end(), data);
  return out;
}

}  // namespace

PromptTokens tokenize_prompts(const ClipTokenizer& tokenizer, const std::string& prompt,
                              const std::string& negative_prompt) {
  const std::vector<int32_t> ids = encode_text(tokenizer, prompt, "prompt");
  Chunks te1 = make_chunks(ids, kTe1Pad), te2 = make_chunks(ids, kTe2Pad);
  PromptTokens out;
  if (negative_prompt.empty()) {
    out.te1 = to_tensor(te1);
    out.te2 = to_tensor(te2);
    return out;
  }
  const std::vector<int32_t> neg_ids = encode_text(tokenizer, negative_prompt, "negative_prompt");
  Chunks neg1 = make_chunks(neg_ids, kTe1Pad), neg2 = make_chunks(neg_ids, kTe2Pad);
  const size_t n = std::max(te1.size(), neg1.size());
  pad_to(te1, n, kTe1Pad);
  pad_to(te2, n, kTe2Pad);
  pad_to(neg1, n, kTe1Pad);
  pad_to(neg2, n, kTe2Pad);
  out.te1 = to_tensor(te1);
  out.te2 = to_tensor(te2);
  out.neg_te1 = to_tensor(neg1);
  out.neg_te2 = to_tensor(neg2);
  return out;
}

TextConditioning encode_prompts(const nn::ClipTextModel& te1, const nn::OpenClipTextModel& te2, PromptTokens tokens) {
  const at::Device device = te1.token_embedding.weight.device();
  const int64_t n = tokens.chunks();
  const bool zero = tokens.zero_negative();
  const at::Tensor ids1 = (zero ? tokens.te1 : at::cat({tokens.te1, tokens.neg_te1})).to(device);
  const at::Tensor ids2 = (zero ? tokens.te2 : at::cat({tokens.te2, tokens.neg_te2})).to(device);

  const at::Tensor hidden1 = te1.penultimate(ids1);                                               // [B, 77, W1]
  nn::OpenClipOutput out2 = te2.forward(ids2);                                                    // [B, 77, W2], [B, P]
  const at::Tensor context = at::cat({hidden1, out2.penultimate.to(hidden1.scalar_type())}, -1);  // [B, 77, C]
  const int64_t width = context.size(2);

  TextConditioning text;
  text.cond_context = context.narrow(0, 0, n).reshape({n * ClipTokenizer::kContextLength, width});
  text.cond_pooled = out2.pooled[0];
  if (zero) {
    text.uncond_context = at::zeros_like(text.cond_context);
    text.uncond_pooled = at::zeros_like(text.cond_pooled);
  } else {
    text.uncond_context = context.narrow(0, n, n).reshape({n * ClipTokenizer::kContextLength, width});
    text.uncond_pooled = out2.pooled[n];
  }
  text.tokens = std::move(tokens);
  return text;
}

}  // namespace sdxlw::engine
