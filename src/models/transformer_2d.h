// diffusers `Transformer2DModel` (transformers/transformer_2d.py) on continuous inputs, as the Stable Diffusion
// UNets use it, and its `BasicTransformerBlock` (attention.py) with norm_type "layer_norm" and a GEGLU FeedForward:
//   GroupNorm(32, eps 1e-6) -> proj_in (1x1 conv, or linear when use_linear_projection) -> blocks -> proj_out -> + x
//   block: x += attn1(norm1(x)); x += attn2(norm2(x), context); x += ff(norm3(x))
#pragma once
#include <vector>

#include "models/attention.h"

namespace sdpp::nn {

struct TransformerConfig {
  int heads = 8;
  int64_t dim_head = 40;
  int64_t in_channels = 320;
  int num_layers = 1;
  int64_t cross_attention_dim = 768;
  int norm_num_groups = 32;
  bool use_linear_projection = false;  // SD 2.x / SDXL: linear proj_in/proj_out instead of 1x1 convs
  bool only_cross_attention = false;   // attn1 attends to the context too
  bool upcast_attention = false;
};

class BasicTransformerBlock {
 public:
  BasicTransformerBlock() = default;
  // `w` is the block's prefix, e.g. "down_blocks.0.attentions.1.transformer_blocks.0".
  BasicTransformerBlock(const WeightLoader& w, const TransformerConfig& config);
  // x [B, L, dim] and x_normed, its norm1 (which whoever made x made alongside it, ops::linear_layer_norm), context
  // [B, Lk, cross_attention_dim] -> out [B, L, dim], and, where next_norm1 (the following block's norm1) is given,
  // normed = next_norm1(out).
  ops::LinearAndNorm forward(const Tensor& x, const Tensor& x_normed, const CrossContext& context,
                             const LayerNorm* next_norm1) const;
  const LayerNorm& norm1() const { return norm1_; }
  // Adds the key/value projections of `context` by this block's cross-attention layers to `out`.
  void project_context(const Tensor& context, ProjectedContext& out) const;

 private:
  LayerNorm norm1_, norm2_, norm3_;
  Attention attn1_, attn2_;
  Linear ff_proj_;  // ff.net.0.proj: dim -> 2 * 4dim (GEGLU hidden and gate)
  Linear ff_out_;   // ff.net.2: 4dim -> dim
  bool only_cross_attention_ = false;
};

class Transformer2DModel {
 public:
  Transformer2DModel() = default;
  // `w` is the model's prefix, e.g. "down_blocks.0.attentions.1".
  Transformer2DModel(const WeightLoader& w, const TransformerConfig& config);
  // x [B, C, H, W], context [B, Lk, cross_attention_dim] -> [B, C, H, W]
  Tensor forward(const Tensor& x, const CrossContext& context) const;
  void project_context(const Tensor& context, ProjectedContext& out) const;  // every block's, in order

 private:
  GroupNorm norm_;
  // Both projection kinds are kept in one form: proj_in as a linear on tokens ([inner, C]; a 1x1 conv on NCHW is
  // the same product), proj_out as a 1x1 conv ([C, inner, 1, 1]) so the residual add fuses into it on NCHW.
  Tensor proj_in_weight_, proj_in_bias_;
  Tensor proj_out_weight_, proj_out_bias_;
  std::vector<BasicTransformerBlock> transformer_blocks_;
  int64_t in_channels_ = 0;
};

}  // namespace sdpp::nn
