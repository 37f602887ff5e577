#include "models/attention.h"

namespace sdpp::nn {

Attention::Attention(const WeightLoader& w, const AttentionConfig& c) : config(c) {
  const int64_t inner = int64_t(c.heads) * c.dim_head;
  const int64_t kv_dim = c.cross_attention_dim ? c.cross_attention_dim : c.query_dim;
  to_q = Linear(w.sub("to_q"), c.query_dim, inner, c.qkv_bias);
  to_k = Linear(w.sub("to_k"), kv_dim, inner, c.qkv_bias);
  to_v = Linear(w.sub("to_v"), kv_dim, inner, c.qkv_bias);
  to_out = Linear(w.sub("to_out.0"), inner, c.query_dim, true);
}

Tensor Attention::operator()(const Tensor& x, const Tensor& context, const Tensor* residual) const {
  const Tensor& kv = context.defined() ? context : x;
  Tensor q = to_q(x);   // [B, L, H*D]
  Tensor k = to_k(kv);  // [B, Lk, H*D]
  Tensor v = to_v(kv);
  ops::AttentionOptions options;
  options.heads = config.heads;
  options.upcast = config.upcast_attention;
  Tensor out = ops::attention(q, k, v, options);
  ops::LinearOptions projection;
  projection.residual = residual;
  return to_out(out, projection);
}

}  // namespace sdpp::nn
