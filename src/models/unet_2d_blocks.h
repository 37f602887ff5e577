// The UNet2DConditionModel blocks of diffusers (unets/unet_2d_blocks.py) that Stable Diffusion 1.x/2.x/XL use:
//   UNetDownBlock2D  = CrossAttnDownBlock2D (resnets[i] -> attentions[i], then downsamplers.0) or, without
//                      attention, DownBlock2D;
//   UNetMidBlock2DCrossAttn = resnets.0 -> (attentions[i] -> resnets[i+1]);
//   UNetUpBlock2D    = CrossAttnUpBlock2D (cat(x, skip) -> resnets[i] -> attentions[i], then upsamplers.0) or
//                      UpBlock2D.
// Key names are diffusers' (down_blocks.N.resnets.M, down_blocks.N.attentions.M.transformer_blocks.K...).
// `time_terms` holds one term per resnet of the block, in order (ResnetBlock2D::time_term).
#pragma once
#include <optional>
#include <span>
#include <vector>

#include "models/downsampling.h"
#include "models/resnet.h"
#include "models/transformer_2d.h"
#include "models/upsampling.h"

namespace sdpp::nn {

// Settings every block of one UNet shares.
struct UNetBlockCommon {
  int64_t temb_channels = 1280;
  int groups = 32;           // resnet and transformer GroupNorm groups
  float resnet_eps = 1e-5f;  // the UNet's norm_eps
  int64_t cross_attention_dim = 768;
  bool use_linear_projection = false;
  bool upcast_attention = false;
};

struct UNetBlockConfig {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t prev_output_channel = 0;  // up blocks: channels arriving from the block below
  int num_layers = 2;               // resnets (down: layers_per_block; up: layers_per_block + 1)
  bool cross_attention = false;     // the CrossAttn* variant
  int heads = 8;
  int transformer_layers = 1;
  bool only_cross_attention = false;
  bool add_sampler = true;          // downsamplers.0 / upsamplers.0
  int downsample_padding = 1;
};

class UNetDownBlock2D {
 public:
  UNetDownBlock2D() = default;
  UNetDownBlock2D(const WeightLoader& w, const UNetBlockConfig& config, const UNetBlockCommon& common);
  // x [B, in, H, W] -> [B, out, H', W']; appends each resnet/attention output and the downsampled output to `skips`.
  Tensor forward(const Tensor& x, std::span<const Tensor> time_terms, const CrossContext& context,
                 std::vector<Tensor>& skips) const;
  void project_context(const Tensor& context, ProjectedContext& out) const;  // its attentions', in order
  const std::vector<ResnetBlock2D>& resnets() const { return resnets_; }

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;  // empty for DownBlock2D
  std::optional<Downsample2D> downsampler_;
};

class UNetMidBlock2DCrossAttn {
 public:
  UNetMidBlock2DCrossAttn() = default;
  // config.num_layers counts the attentions (1 in every SD UNet); there is one more resnet.
  UNetMidBlock2DCrossAttn(const WeightLoader& w, const UNetBlockConfig& config, const UNetBlockCommon& common);
  // [B, C, H, W] -> same
  Tensor forward(const Tensor& x, std::span<const Tensor> time_terms, const CrossContext& context) const;
  void project_context(const Tensor& context, ProjectedContext& out) const;
  const std::vector<ResnetBlock2D>& resnets() const { return resnets_; }

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;
};

class UNetUpBlock2D {
 public:
  UNetUpBlock2D() = default;
  UNetUpBlock2D(const WeightLoader& w, const UNetBlockConfig& config, const UNetBlockCommon& common);
  // Consumes num_layers tensors from the back of `skips`. The upsampler (if any) produces exactly
  // upsample_h x upsample_w, the size of the skip the next block concatenates (diffusers' upsample_size).
  Tensor forward(const Tensor& x, std::span<const Tensor> time_terms, const CrossContext& context,
                 std::vector<Tensor>& skips, int64_t upsample_h, int64_t upsample_w) const;
  void project_context(const Tensor& context, ProjectedContext& out) const;
  const std::vector<ResnetBlock2D>& resnets() const { return resnets_; }
  size_t num_resnets() const { return resnets_.size(); }
  bool has_upsampler() const { return upsampler_.has_value(); }

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;  // empty for UpBlock2D
  std::optional<Upsample2D> upsampler_;
};

}  // namespace sdpp::nn
