#include "models/clip_text.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace sdpp {

namespace {

ops::Activation activation_from_name(const std::string& name) {
  if (name == "quick_gelu") return ops::Activation::QuickGELU;
  if (name == "gelu") return ops::Activation::GELU;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return ops::Activation::GELUTanh;
  throw Error(ErrorCode::Unsupported, "CLIP text config: hidden_act '" + name + "' is not supported");
}

void check_config(const ClipTextConfig& c) {
  const auto bad = [](const std::string& field, int64_t value) {
    throw Error(ErrorCode::BadFile, "CLIP text config: invalid " + field + " = " + std::to_string(value));
  };
  if (c.hidden_size <= 0) bad("hidden_size", c.hidden_size);
  if (c.intermediate_size <= 0) bad("intermediate_size", c.intermediate_size);
  if (c.num_hidden_layers <= 0) bad("num_hidden_layers", c.num_hidden_layers);
  if (c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0) {
    bad("num_attention_heads", c.num_attention_heads);
  }
  if (c.vocab_size <= 0) bad("vocab_size", c.vocab_size);
  if (c.max_position_embeddings <= 0) bad("max_position_embeddings", c.max_position_embeddings);
  if (c.with_projection && c.projection_dim <= 0) bad("projection_dim", c.projection_dim);
}

}  // namespace

ClipTextModel::ClipTextModel(const ClipTextConfig& config, const WeightLoader& w) : config_(config) {
  check_config(config);
  activation_ = activation_from_name(config.hidden_act);
  const int64_t d = config.hidden_size;
  const WeightLoader tm = w.sub("text_model");
  token_embedding_ = tm.get("embeddings.token_embedding.weight", {config.vocab_size, d});
  position_embedding_ = tm.get("embeddings.position_embedding.weight", {config.max_position_embeddings, d});
  layers_.resize(size_t(config.num_hidden_layers));
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    const WeightLoader lw = tm.sub("encoder.layers." + std::to_string(i));
    clip::CLIPEncoderLayer& layer = layers_[size_t(i)];
    layer.layer_norm1 = nn::LayerNorm(lw.sub("layer_norm1"), d, config.layer_norm_eps);
    layer.layer_norm2 = nn::LayerNorm(lw.sub("layer_norm2"), d, config.layer_norm_eps);
    layer.self_attn.q_proj = nn::Linear(lw.sub("self_attn.q_proj"), d, d);
    layer.self_attn.k_proj = nn::Linear(lw.sub("self_attn.k_proj"), d, d);
    layer.self_attn.v_proj = nn::Linear(lw.sub("self_attn.v_proj"), d, d);
    layer.self_attn.out_proj = nn::Linear(lw.sub("self_attn.out_proj"), d, d);
    layer.self_attn.heads = config.num_attention_heads;
    layer.mlp.fc1 = nn::Linear(lw.sub("mlp.fc1"), d, config.intermediate_size);
    layer.mlp.fc2 = nn::Linear(lw.sub("mlp.fc2"), config.intermediate_size, d);
  }
  final_layer_norm_ = nn::LayerNorm(tm.sub("final_layer_norm"), d, config.layer_norm_eps);
  if (config.with_projection) {
    text_projection_ = nn::Linear(w.sub("text_projection"), d, config.projection_dim, /*with_bias=*/false);
  }
}

Tensor ClipTextModel::encoder_layer(const clip::CLIPEncoderLayer& layer, const Tensor& x) const {
  // Pre-LN: x + out_proj(attn(ln1(x))), then x + fc2(act(fc1(ln2(x)))); both residual adds fused into the linears.
  const Tensor h = layer.layer_norm1(x);
  const Tensor q = layer.self_attn.q_proj(h);  // [B, L, D]
  const Tensor k = layer.self_attn.k_proj(h);
  const Tensor v = layer.self_attn.v_proj(h);
  ops::AttentionOptions attention;
  attention.heads = layer.self_attn.heads;
  attention.causal = true;
  const Tensor a = ops::attention(q, k, v, attention);
  ops::LinearOptions residual;
  residual.residual = &x;
  const Tensor x1 = layer.self_attn.out_proj(a, residual);

  ops::LinearOptions act;
  act.activation = activation_;
  const Tensor m = layer.mlp.fc1(layer.layer_norm2(x1), act);  // [B, L, intermediate]
  residual.residual = &x1;
  return layer.mlp.fc2(m, residual);
}

std::vector<int64_t> ClipTextModel::pooled_positions(const Tensor& input_ids) const {
  const int64_t batch = input_ids.dim(0), length = input_ids.dim(1);
  const int64_t* ids = input_ids.i64();
  constexpr int64_t kOpenAiEos = 49407;
  bool legacy = config_.eos_token_id == 2;
  if (!legacy) {
    legacy = true;
    for (int64_t b = 0; b < batch && legacy; ++b) {
      int64_t row_max = ids[b * length];
      for (int64_t t = 1; t < length; ++t) row_max = std::max(row_max, ids[b * length + t]);
      legacy = row_max == kOpenAiEos;
    }
  }
  std::vector<int64_t> positions(size_t(batch), 0);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t* row = ids + b * length;
    int64_t best = 0;
    for (int64_t t = 1; t < length; ++t) {
      if (legacy ? row[t] > row[best] : (row[best] != config_.eos_token_id && row[t] == config_.eos_token_id)) {
        best = t;
      }
    }
    positions[size_t(b)] = best;
  }
  return positions;
}

Tensor ClipTextModel::embed(const Tensor& input_ids) const {
  if (input_ids.ndim() != 2 || input_ids.dtype() != DType::I64 || !input_ids.device().is_cpu()) {
    throw Error(ErrorCode::InvalidArgument, "CLIP text model: input_ids must be int64 [B, L] on the cpu, got " +
                                                std::string(dtype_name(input_ids.dtype())) + " " +
                                                shape_str(input_ids.shape()));
  }
  const int64_t batch = input_ids.dim(0), length = input_ids.dim(1);
  if (batch <= 0 || length <= 0 || length > config_.max_position_embeddings) {
    throw Error(ErrorCode::InvalidArgument, "CLIP text model: input_ids shape " + shape_str(input_ids.shape()) +
                                                " needs 1 <= L <= max_position_embeddings = " +
                                                std::to_string(config_.max_position_embeddings));
  }
  const int64_t* ids = input_ids.i64();
  for (int64_t i = 0; i < batch * length; ++i) {
    if (ids[i] < 0 || ids[i] >= config_.vocab_size) {
      throw Error(ErrorCode::InvalidArgument, "CLIP text model: token id " + std::to_string(ids[i]) +
                                                  " outside the vocabulary [0, " + std::to_string(config_.vocab_size) +
                                                  ")");
    }
  }
  std::vector<int64_t> position_ids(size_t(batch * length));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < length; ++t) position_ids[size_t(b * length + t)] = t;
  }
  const Tensor positions = Tensor::from_ints(position_ids, {batch, length});
  return ops::add(ops::embedding(token_embedding_, input_ids), ops::embedding(position_embedding_, positions));
}

Tensor ClipTextModel::run_layers(const Tensor& hidden, int begin, int end) const {
  if (begin < 0 || begin > end || end > num_layers()) {
    throw Error(ErrorCode::InvalidArgument, "CLIP text model: layers [" + std::to_string(begin) + ", " +
                                                std::to_string(end) + ") outside [0, " + std::to_string(num_layers()) +
                                                ")");
  }
  Tensor h = hidden;
  for (int i = begin; i < end; ++i) h = encoder_layer(layers_[size_t(i)], h);
  return h;
}

ClipTextOutput ClipTextModel::forward(const Tensor& input_ids, const ClipTextOptions& options) const {
  const int total = num_layers();
  if (options.num_layers < 0 || options.num_layers > total) {
    throw Error(ErrorCode::InvalidArgument, "CLIP text model: num_layers = " + std::to_string(options.num_layers) +
                                                " outside [0, " + std::to_string(total) + "]");
  }
  const int run = options.num_layers == 0 ? total : options.num_layers;
  ClipTextOutput out;
  out.hidden_states.reserve(size_t(run) + 1);
  out.hidden_states.push_back(embed(input_ids));
  for (int i = 0; i < run; ++i) out.hidden_states.push_back(run_layers(out.hidden_states.back(), i, i + 1));
  out.last_hidden_state = final_layer_norm_(out.hidden_states.back());
  if (run == total) {
    out.pooler_output = ops::gather_rows(out.last_hidden_state, pooled_positions(input_ids));
    if (has_projection()) out.text_embeds = text_projection_(out.pooler_output);
  }
  return out;
}

}  // namespace sdpp
