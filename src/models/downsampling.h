// diffusers `Downsample2D` (downsampling.py) with use_conv=True, the only form Stable Diffusion uses: a 3x3
// stride-2 conv (key "conv"). padding = 1 in the UNet; the VAE encoder uses padding = 0 with an explicit
// asymmetric (0, 1, 0, 1) zero pad (right and bottom only), as diffusers does.
#pragma once
#include "models/layers.h"

namespace sdpp::nn {

class Downsample2D {
 public:
  Downsample2D() = default;
  // `w` is the downsampler's prefix, e.g. "down_blocks.0.downsamplers.0".
  Downsample2D(const WeightLoader& w, int64_t channels, int64_t out_channels, int padding);

  Tensor forward(const Tensor& x) const;  // [N, C, H, W] -> [N, out, ceil-ish(H/2), ...] as torch computes
  Tensor operator()(const Tensor& x) const { return forward(x); }

 private:
  Tensor weight_, bias_;  // conv [out, C, 3, 3], [out]
  int64_t channels_ = 0;
  int padding_ = 1;
};

}  // namespace sdpp::nn
