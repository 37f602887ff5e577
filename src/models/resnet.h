// diffusers `ResnetBlock2D` (resnet.py) as Stable Diffusion uses it: pre-norm, SiLU, "default" time-embedding
// norm (temb projected and added after conv1), 1x1 conv_shortcut when the channel count changes. Shared by the
// UNet (with a time embedding) and the VAE (temb_channels = 0: no time_emb_proj).
#pragma once
#include "models/layers.h"

namespace sdpp::nn {

class ResnetBlock2D {
 public:
  ResnetBlock2D() = default;
  // temb_channels = 0: no time embedding (VAE). `w` is the block's prefix, e.g. "down_blocks.0.resnets.1".
  ResnetBlock2D(const WeightLoader& w, int64_t in_channels, int64_t out_channels, int64_t temb_channels, int groups,
                float eps, float output_scale_factor = 1.0f);

  // x [N, in, H, W]; temb [N, temb_channels] (the UNet's time embedding after its SiLU, which diffusers applies in
  // every block: the UNet applies it once for all of them) or undefined -> [N, out, H, W]
  Tensor forward(const Tensor& x, const Tensor& temb = {}) const;
  Tensor operator()(const Tensor& x, const Tensor& temb = {}) const { return forward(x, temb); }

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
