// transformers `CLIPTextModel` / `CLIPTextModelWithProjection` (models/clip/modeling_clip.py): token + position
// embeddings, pre-LN encoder layers with causal self-attention, final_layer_norm, pooled output at the EOS token and,
// with a projection, text_embeds = text_projection(pooled). Keys: text_model.embeddings.*,
// text_model.encoder.layers.N.*, text_model.final_layer_norm.*, text_projection.weight.
#pragma once
#include <vector>

#include "io/model_config.h"
#include "models/layers.h"

namespace sdpp {

namespace clip {

struct CLIPAttention {
  nn::Linear q_proj, k_proj, v_proj, out_proj;
  int heads = 1;
};

struct CLIPMLP {
  nn::Linear fc1, fc2;
};

struct CLIPEncoderLayer {
  nn::LayerNorm layer_norm1, layer_norm2;
  CLIPAttention self_attn;
  CLIPMLP mlp;
};

}  // namespace clip

struct ClipTextOptions {
  // Run only the first `num_layers` encoder layers (0 = all). diffusers' clip_skip = k is num_layers = N - k: then
  // last_hidden_state = final_layer_norm(hidden_states[-(1 + k)]) of the full model, without computing the rest.
  int num_layers = 0;
};

struct ClipTextOutput {
  Tensor last_hidden_state;           // [B, L, D] final_layer_norm(hidden_states.back())
  std::vector<Tensor> hidden_states;  // [0] = embeddings, [i] = output of encoder layer i (no final norm)
  Tensor pooler_output;               // [B, D] last_hidden_state at the EOS token; only when all layers ran
  Tensor text_embeds;                 // [B, projection_dim] text_projection(pooler_output); WithProjection only
};

class ClipTextModel {
 public:
  // `w` is the component's root (keys start with "text_model."); the projection is loaded when
  // config.with_projection is set.
  ClipTextModel(const ClipTextConfig& config, const WeightLoader& w);

  // input_ids [B, L] int64 on the cpu, L <= max_position_embeddings, ids in [0, vocab_size).
  ClipTextOutput forward(const Tensor& input_ids, const ClipTextOptions& options = {}) const;

  // forward() in parts, for callers that run the layers as one recorded device computation (which must not read
  // the host, as embed() and the pooling do): embed() = hidden_states[0]; run_layers(h, b, e) takes hidden_states[b]
  // to hidden_states[e]; text_embeds() projects rows of the final output (WithProjection only).
  Tensor embed(const Tensor& input_ids) const;
  Tensor run_layers(const Tensor& hidden, int begin, int end) const;
  Tensor text_embeds(const Tensor& pooled) const { return text_projection_(pooled); }
  bool has_projection() const { return text_projection_.weight.defined(); }

  Tensor final_layer_norm(const Tensor& hidden) const { return final_layer_norm_(hidden); }
  const ClipTextConfig& config() const { return config_; }
  int num_layers() const { return int(layers_.size()); }

  // Index of the pooled (EOS) token of each row, exactly as transformers picks it: the argmax of the ids for legacy
  // configs (eos_token_id == 2) or when every row's largest id is 49407 (the OpenAI EOS), else the first position
  // equal to eos_token_id (0 when a row has none, as torch's argmax of an all-zero mask).
  std::vector<int64_t> pooled_positions(const Tensor& input_ids) const;

 private:
  Tensor encoder_layer(const clip::CLIPEncoderLayer& layer, const Tensor& x) const;

  ClipTextConfig config_;
  Tensor token_embedding_;     // [vocab, D]
  Tensor position_embedding_;  // [max_positions, D]
  std::vector<clip::CLIPEncoderLayer> layers_;
  nn::LayerNorm final_layer_norm_;
  nn::Linear text_projection_;  // [projection_dim, D], no bias; undefined without projection
  ops::Activation activation_ = ops::Activation::QuickGELU;
};

}  // namespace sdpp
