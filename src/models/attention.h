// diffusers `Attention` (attention_processor.py) with the default processor: to_q/to_k/to_v projections, scaled
// dot-product attention over `heads`, to_out.0 projection (+ residual fused into it). Used by the UNet's transformer
// blocks (self- and cross-attention) and the VAE mid-block (heads = 1, on image tokens).
#pragma once
#include "models/cross_context.h"
#include "models/layers.h"

namespace sdpp::nn {

struct AttentionConfig {
  int64_t query_dim = 0;
  int64_t cross_attention_dim = 0;  // 0 = self-attention (keys from the query stream)
  int heads = 1;
  int64_t dim_head = 64;
  bool qkv_bias = false;            // VAE attention has biases on q/k/v; the UNet's do not
  bool upcast_attention = false;    // SD 2.x
};

// The projections are fused at load (one GEMM instead of three, or two for cross-attention): to_qkv holds to_q,
// to_k and to_v stacked for self-attention; cross-attention keeps to_q and stacks to_k, to_v into to_kv.
struct Attention {
  Linear to_q, to_qkv, to_kv, to_out;
  AttentionConfig config;
  Attention() = default;
  Attention(const WeightLoader& w, const AttentionConfig& config);
  // x [B, L, query_dim]; context [B, Lk, cross_attention_dim] or undefined for self-attention;
  // residual (optional) is added by the output projection.
  Tensor operator()(const Tensor& x, const Tensor& context = {}, const Tensor* residual = nullptr) const;
  // Cross-attention layers: the same, taking this layer's keys and values from context.projected where it has them.
  Tensor operator()(const Tensor& x, const CrossContext& context, const Tensor* residual = nullptr) const;
  // Both of the above with the output's layer norm made alongside it (Linear::then_norm): the residual stream and
  // the next sublayer's input, as a transformer block uses them.
  ops::LinearAndNorm operator()(const Tensor& x, const Tensor& context, const Tensor* residual,
                                const LayerNorm& norm_after) const;
  ops::LinearAndNorm operator()(const Tensor& x, const CrossContext& context, const Tensor* residual,
                                const LayerNorm& norm_after) const;
  // Cross-attention layers: the stacked key/value projection of a context, as ProjectedContext holds it.
  Tensor project_context(const Tensor& context) const;

 private:
  // The heads' output before to_out [B, L, H*D].
  Tensor heads(const Tensor& x, const Tensor& context) const;
  Tensor heads(const Tensor& x, const CrossContext& context) const;
  // q [B, L, H*D] with kv [B, Lk, 2*H*D], or, for self-attention, qkv [B, L, 3*H*D] and kv undefined.
  Tensor attend(const Tensor& q, const Tensor& kv) const;
};

}  // namespace sdpp::nn
