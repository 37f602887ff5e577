// diffusers `ResnetBlock2D` (resnet.py) as Stable Diffusion uses it: pre-norm, SiLU, "default" time-embedding
// norm (temb projected and added after conv1), 1x1 conv_shortcut when the channel count changes. Shared by the
// UNet (with a time embedding) and the VAE (temb_channels = 0: no time_emb_proj).
// The projected time embedding (the "time term") is an input of forward rather than computed in it: it depends on
// the timestep alone, so the UNet makes every step's terms of a denoising loop before the loop
// (UNet2DConditionModel::time_terms) and the steps only read them.
#pragma once
#include "models/layers.h"

namespace sdpp::nn {

class ResnetBlock2D {
 public:
  ResnetBlock2D() = default;
  // temb_channels = 0: no time embedding (VAE). `w` is the block's prefix, e.g. "down_blocks.0.resnets.1".
  ResnetBlock2D(const WeightLoader& w, int64_t in_channels, int64_t out_channels, int64_t temb_channels, int groups,
                float eps, float output_scale_factor = 1.0f);

  // time_emb_proj(temb): temb [N, temb_channels] is the UNet's time embedding after its SiLU (which diffusers applies
  // in every block: the UNet applies it once for all of them) -> [N, out]. Throws where there is no time_emb_proj.
  Tensor time_term(const Tensor& temb) const;
  // x [N, in, H, W]; time_term [N, out] (time_term(temb)) where the block has a time_emb_proj, else undefined
  // -> [N, out, H, W]
  Tensor forward(const Tensor& x, const Tensor& time_term = {}) const;
  Tensor operator()(const Tensor& x, const Tensor& time_term = {}) const { return forward(x, time_term); }

  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }

 private:
  GroupNorm norm1_, norm2_;
  Conv2d conv1_, conv2_;
  Linear time_emb_proj_;  // undefined weight when temb_channels == 0
  Conv2d conv_shortcut_;  // undefined weight when in == out
  int64_t in_channels_ = 0, out_channels_ = 0;
  float output_scale_factor_ = 1.0f;
};

}  // namespace sdpp::nn
