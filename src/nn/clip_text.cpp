#include "nn/clip_text.h"

#include <stdexcept>
#include <string>

#include "nn/attention.h"
#include "nn/fast_ops.h"

namespace sdxlw::nn {

namespace {

at::Tensor quick_gelu(const at::Tensor& x) { return x * at::sigmoid(x * 1.702); }

at::Tensor embed(const Embedding& tokens, const at::Tensor& positions, const at::Tensor& ids, int64_t max_len) {
  if (ids.dim() != 2 || ids.size(1) > max_len || ids.size(1) == 0) {
    throw std::invalid_argument("text encoder: ids must be [B, N] with 1 ≤ N ≤ " + std::to_string(max_len));
  }
  const at::Tensor dev_ids = ids.to(tokens.weight.device(), at::kLong);
  return tokens.forward(dev_ids) + positions.narrow(0, 0, ids.size(1));  // [B, N, W]
}

}  // namespace

// ---- CLIP-L ----

ClipEncoderLayer::ClipEncoderLayer(int64_t w, int64_t mlp, int64_t heads_)
    : k_proj(add<Linear>("self_attn.k_proj", w, w)),
      v_proj(add<Linear>("self_attn.v_proj", w, w)),
      q_proj(add<Linear>("self_attn.q_proj", w, w)),
      out_proj(add<Linear>("self_attn.out_proj", w, w)),
      layer_norm1(add<LayerNorm>("layer_norm1", w, 1e-5)),
      fc1(add<Linear>("mlp.fc1", w, mlp)),
      fc2(add<Linear>("mlp.fc2", mlp, w)),
      layer_norm2(add<LayerNorm>("layer_norm2", w, 1e-5)),
      heads(heads_) {}

at::Tensor ClipEncoderLayer::forward(const at::Tensor& x) const {
  const at::Tensor h = layer_norm1.forward(x);
  at::Tensor out = x + out_proj.forward(multi_head_attention(q_proj.forward(h), k_proj.forward(h),
                                                             v_proj.forward(h), heads, /*causal=*/true));
  return out.add_(fc2.forward(quick_gelu(fc1.forward(layer_norm2.forward(out)))));
}

ClipTextModel::ClipTextModel(const ClipTextConfig& c)
    : token_embedding(add<Embedding>("embeddings.token_embedding", c.vocab, c.width)),
      position_embedding(add<Embedding>("embeddings.position_embedding", c.positions, c.width)),
      layers(add_layers(c)),
      final_layer_norm(add<LayerNorm>("final_layer_norm", c.width, 1e-5)),
      config_(c) {}

std::vector<ClipEncoderLayer*> ClipTextModel::add_layers(const ClipTextConfig& c) {
  std::vector<ClipEncoderLayer*> out;
  for (int64_t i = 0; i < c.layers; ++i) {
    out.push_back(&add<ClipEncoderLayer>("encoder.layers." + std::to_string(i), c.width, c.mlp_dim, c.heads));
  }
  return out;
}

at::Tensor ClipTextModel::hidden_state(const at::Tensor& ids, int64_t n_layers) const {
  if (n_layers < 0 || n_layers > config_.layers) {
    throw std::invalid_argument("CLIP-L: cannot take the output of layer " + std::to_string(n_layers) +
                                " of " + std::to_string(config_.layers));
  }
  at::Tensor x = embed(token_embedding, position_embedding.weight, ids, config_.positions);
  for (int64_t i = 0; i < n_layers; ++i) x = layers[i]->forward(x);
  return x;
}

// ---- OpenCLIP bigG ----

OpenClipResBlock::OpenClipResBlock(int64_t w, int64_t mlp, int64_t heads_)
    : ln_1(add<LayerNorm>("ln_1", w, 1e-5)),
      in_proj_weight(add_param("attn.in_proj_weight", {3 * w, w})),
      in_proj_bias(add_param("attn.in_proj_bias", {3 * w})),
      out_proj(add<Linear>("attn.out_proj", w, w)),
      ln_2(add<LayerNorm>("ln_2", w, 1e-5)),
      c_fc(add<Linear>("mlp.c_fc", w, mlp)),
      c_proj(add<Linear>("mlp.c_proj", mlp, w)),
      heads(heads_) {}

at::Tensor OpenClipResBlock::forward(const at::Tensor& x) const {
  const at::Tensor qkv = nn::linear(ln_1.forward(x), in_proj_weight, in_proj_bias);  // [B, N, 3W]
  const auto parts = qkv.chunk(3, -1);
  at::Tensor out = x + out_proj.forward(multi_head_attention(parts[0], parts[1], parts[2], heads, /*causal=*/true));
  return out.add_(c_proj.forward(at::gelu(c_fc.forward(ln_2.forward(out)))));
}

OpenClipTextModel::OpenClipTextModel(const OpenClipTextConfig& c)
    : token_embedding(add<Embedding>("token_embedding", c.vocab, c.width)),
      positional_embedding(add_param("positional_embedding", {c.positions, c.width})),
      resblocks(add_resblocks(c)),
      ln_final(add<LayerNorm>("ln_final", c.width, 1e-5)),
      text_projection(c.projection_is_linear ? add_param("text_projection.weight", {c.projection, c.width})
                                             : add_param("text_projection", {c.width, c.projection})),
      config_(c) {}

std::vector<OpenClipResBlock*> OpenClipTextModel::add_resblocks(const OpenClipTextConfig& c) {
  std::vector<OpenClipResBlock*> out;
  for (int64_t i = 0; i < c.layers; ++i) {
    out.push_back(&add<OpenClipResBlock>("transformer.resblocks." + std::to_string(i), c.width, c.mlp_dim, c.heads));
  }
  return out;
}

OpenClipOutput OpenClipTextModel::forward(const at::Tensor& ids) const {
  at::Tensor x = embed(token_embedding, positional_embedding, ids, config_.positions);
  const int64_t last = config_.layers - 1;
  for (int64_t i = 0; i < last; ++i) x = resblocks[i]->forward(x);
  OpenClipOutput out;
  out.penultimate = x;
  x = resblocks[last]->forward(x);
  // LayerNorm is per position, so normalising only the pooled rows equals ln_final(x)[eos].
  const int64_t b = x.size(0), w = x.size(2);
  const at::Tensor eos = ids.to(x.device(), at::kLong).argmax(-1);  // [B]
  const at::Tensor rows = x.gather(1, eos.view({b, 1, 1}).expand({b, 1, w})).squeeze(1);  // [B, W]
  const at::Tensor h = ln_final.forward(rows);
  out.pooled = config_.projection_is_linear ? at::linear(h, text_projection) : at::matmul(h, text_projection);
  return out;
}

}  // namespace sdxlw::nn
