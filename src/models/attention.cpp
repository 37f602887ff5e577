#include "models/attention.h"

#include "core/error.h"
#include "models/guidance_pair.h"

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

namespace {

ops::LinearOptions adding(const Tensor* residual) {
  ops::LinearOptions options;
  options.residual = residual;
  return options;
}

}  // namespace

Tensor Attention::operator()(const Tensor& x, const Tensor& context, const Tensor* residual) const {
  return to_out(heads(x, context), adding(residual));
}

Tensor Attention::operator()(const Tensor& x, const CrossContext& context, const Tensor* residual) const {
  return to_out(heads(x, context), adding(residual));
}

ops::LinearAndNorm Attention::operator()(const Tensor& x, const Tensor& context, const Tensor* residual,
                                         const LayerNorm& norm_after) const {
  return to_out.then_norm(heads(x, context), adding(residual), norm_after);
}

ops::LinearAndNorm Attention::operator()(const Tensor& x, const CrossContext& context, const Tensor* residual,
                                         const LayerNorm& norm_after) const {
  return to_out.then_norm(heads(x, context), adding(residual), norm_after);
}

Tensor Attention::heads(const Tensor& x, const Tensor& context) const {
  // Cross-attention takes keys and values from the context (from x itself when none is given).
  if (config.cross_attention_dim) return attend(to_q(x), to_kv(context.defined() ? context : x));
  if (context.defined()) throw Error(ErrorCode::Internal, "Attention: a context was given to a self-attention layer");
  return attend(to_qkv(x), Tensor());
}

Tensor Attention::heads(const Tensor& x, const CrossContext& context) const {
  if (!config.cross_attention_dim)
    throw Error(ErrorCode::Internal, "Attention: a cross-attention context was given to a self-attention layer");
  const Tensor* projected = context.projected ? context.projected->find(this) : nullptr;
  const Tensor kv = projected ? *projected : to_kv(context.hidden_states);
  // x may be a guidance pair's shared half (models/guidance_pair.h): so are its queries, which serve both contexts.
  return attend(to_pair_batch(to_q(x), kv.dim(0)), kv);
}

Tensor Attention::project_context(const Tensor& context) const {
  if (!config.cross_attention_dim)
    throw Error(ErrorCode::Internal, "Attention: a self-attention layer has no context projection");
  return to_kv(context);
}

Tensor Attention::attend(const Tensor& q, const Tensor& kv) const {
  ops::AttentionOptions options;
  options.heads = config.heads;
  options.upcast = config.upcast_attention;
  return ops::attention_packed(q, kv, options);
}

}  // namespace sdpp::nn
