#include "models/attention.h"

#include "core/error.h"

namespace sdpp::nn {

Attention::Attention(const WeightLoader& w, const AttentionConfig& c) : config(c) {
  const int64_t inner = int64_t(c.heads) * c.dim_head;
  const int64_t kv_dim = c.cross_attention_dim ? c.cross_attention_dim : c.query_dim;
  Linear q(w.sub("to_q"), c.query_dim, inner, c.qkv_bias);
  const Linear k(w.sub("to_k"), kv_dim, inner, c.qkv_bias);
  const Linear v(w.sub("to_v"), kv_dim, inner, c.qkv_bias);
  if (c.cross_attention_dim) {
    to_q = std::move(q);
    to_kv = Linear::stacked({k, v});
  } else {
    to_qkv = Linear::stacked({q, k, v});
  }
  to_out = Linear(w.sub("to_out.0"), inner, c.query_dim, true);
}

Tensor Attention::operator()(const Tensor& x, const Tensor& context, const Tensor* residual) const {
  ops::AttentionOptions options;
  options.heads = config.heads;
  options.upcast = config.upcast_attention;
  Tensor out;
  if (config.cross_attention_dim) {
    // q [B, L, H*D] with k, v [B, Lk, 2*H*D] from the context (from x itself when none is given).
    out = ops::attention_packed(to_q(x), to_kv(context.defined() ? context : x), options);
  } else {
    if (context.defined())
      throw Error(ErrorCode::Internal, "Attention: a context was given to a self-attention layer");
    out = ops::attention_packed(to_qkv(x), Tensor(), options);  // [B, L, 3*H*D]
  }
  ops::LinearOptions projection;
  projection.residual = residual;
  return to_out(out, projection);
}

}  // namespace sdpp::nn
