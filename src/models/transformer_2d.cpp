#include "models/transformer_2d.h"

#include <string>

#include "core/error.h"
#include "models/guidance_pair.h"

namespace sdpp::nn {
namespace {

constexpr float kGroupNormEps = 1e-6f;  // Transformer2DModel's GroupNorm, fixed in diffusers
constexpr float kLayerNormEps = 1e-5f;  // BasicTransformerBlock norm_eps default
constexpr int64_t kFeedForwardMult = 4;

}  // namespace

BasicTransformerBlock::BasicTransformerBlock(const WeightLoader& w, const TransformerConfig& c)
    : only_cross_attention_(c.only_cross_attention) {
  const int64_t dim = int64_t(c.heads) * c.dim_head;
  norm1_ = LayerNorm(w.sub("norm1"), dim, kLayerNormEps);
  norm2_ = LayerNorm(w.sub("norm2"), dim, kLayerNormEps);
  norm3_ = LayerNorm(w.sub("norm3"), dim, kLayerNormEps);
  AttentionConfig attn;
  attn.query_dim = dim;
  attn.heads = c.heads;
  attn.dim_head = c.dim_head;
  attn.upcast_attention = c.upcast_attention;
  attn.cross_attention_dim = c.only_cross_attention ? c.cross_attention_dim : 0;
  attn1_ = Attention(w.sub("attn1"), attn);
  attn.cross_attention_dim = c.cross_attention_dim;
  attn2_ = Attention(w.sub("attn2"), attn);
  const int64_t inner = dim * kFeedForwardMult;
  ff_proj_ = Linear(w.sub("ff.net.0.proj"), dim, 2 * inner);
  ff_out_ = Linear(w.sub("ff.net.2"), inner, dim);
}

// Each norm is made by the projection before it (Linear::then_norm), which a backend may fuse into one kernel.
ops::LinearAndNorm BasicTransformerBlock::forward(const Tensor& x, const Tensor& x_normed, const CrossContext& context,
                                                  const LayerNorm* next_norm1) const {
  // Each result is released as soon as its last reader has run, as the unfused chain's temporaries were: at SD 1.5's
  // 64x64 level a norm's output is 5 MB, and the feed-forward's hidden state beside it 21 MB.
  // A guidance pair's shared half (models/guidance_pair.h) parts where the context is first read: at attn2, or at
  // attn1 where that attends to the context too. The cross-attention repeats its queries for both halves, and the
  // residual its output adds to is repeated here.
  const int64_t batch = context.hidden_states.dim(0);
  ops::LinearAndNorm attended;
  if (only_cross_attention_) {
    const Tensor residual = to_pair_batch(x, batch);
    attended = attn1_(x_normed, context, &residual, norm2_);
  } else {
    attended = attn1_(x_normed, Tensor(), &x, norm2_);
    attended.out = to_pair_batch(attended.out, batch);
  }
  ops::LinearAndNorm crossed = attn2_(attended.normed, context, &attended.out, norm3_);
  attended = {};
  ops::LinearOptions add_h;
  add_h.residual = &crossed.out;
  const Tensor hidden = ops::linear_geglu(crossed.normed, ff_proj_.weight, ff_proj_.bias);
  crossed.normed = Tensor();
  if (next_norm1) return ff_out_.then_norm(hidden, add_h, *next_norm1);
  return {ff_out_(hidden, add_h), Tensor()};
}

void BasicTransformerBlock::project_context(const Tensor& context, ProjectedContext& out) const {
  if (only_cross_attention_) out.add(&attn1_, attn1_.project_context(context));
  out.add(&attn2_, attn2_.project_context(context));
}

Transformer2DModel::Transformer2DModel(const WeightLoader& w, const TransformerConfig& c) : in_channels_(c.in_channels) {
  if (c.heads <= 0 || c.dim_head <= 0 || c.num_layers <= 0) {
    throw Error(ErrorCode::InvalidArgument, "Transformer2DModel '" + w.key("") + "': heads " + std::to_string(c.heads) +
                                                ", head dim " + std::to_string(c.dim_head) + ", layers " +
                                                std::to_string(c.num_layers) + " must all be > 0");
  }
  const int64_t inner = int64_t(c.heads) * c.dim_head;
  const int64_t C = c.in_channels;
  norm_ = GroupNorm(w.sub("norm"), c.norm_num_groups, C, kGroupNormEps);
  if (c.use_linear_projection) {
    proj_in_weight_ = w.get("proj_in.weight", {inner, C});
    proj_out_weight_ = w.get("proj_out.weight", {C, inner}).reshape({C, inner, 1, 1});
  } else {
    proj_in_weight_ = w.get("proj_in.weight", {inner, C, 1, 1}).reshape({inner, C});
    proj_out_weight_ = w.get("proj_out.weight", {C, inner, 1, 1});
  }
  proj_in_bias_ = w.get("proj_in.bias", {inner});
  proj_out_bias_ = w.get("proj_out.bias", {C});
  transformer_blocks_.reserve(size_t(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i)
    transformer_blocks_.emplace_back(w.sub("transformer_blocks." + std::to_string(i)), c);
}

void Transformer2DModel::project_context(const Tensor& context, ProjectedContext& out) const {
  for (const BasicTransformerBlock& block : transformer_blocks_) block.project_context(context, out);
}

Tensor Transformer2DModel::forward(const Tensor& x, const CrossContext& context) const {
  if (x.ndim() != 4 || x.dim(1) != in_channels_) {
    throw Error(ErrorCode::ShapeMismatch, "Transformer2DModel: expected input [B, " + std::to_string(in_channels_) +
                                              ", H, W], got " + shape_str(x.shape()));
  }
  const int64_t height = x.dim(2), width = x.dim(3);
  const LayerNorm& norm1 = transformer_blocks_.front().norm1();
  ops::LinearAndNorm h = ops::linear_layer_norm(ops::to_tokens(norm_(x)), proj_in_weight_, proj_in_bias_, {},
                                                norm1.weight, norm1.bias, norm1.eps);  // [B, HW, inner]
  for (size_t i = 0; i < transformer_blocks_.size(); ++i) {
    const LayerNorm* next = i + 1 < transformer_blocks_.size() ? &transformer_blocks_[i + 1].norm1() : nullptr;
    h = transformer_blocks_[i].forward(h.out, h.normed, context, next);
  }
  ops::Conv2dOptions add_x;
  const Tensor residual = to_pair_batch(x, h.out.dim(0));  // x may be a guidance pair's shared half
  add_x.residual = &residual;
  return ops::conv2d(ops::from_tokens(h.out, height, width), proj_out_weight_, proj_out_bias_, add_x);  // [B, C, H, W]
}

}  // namespace sdpp::nn
