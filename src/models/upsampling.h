// diffusers `Upsample2D` (upsampling.py) with use_conv=True, as Stable Diffusion uses it: nearest-neighbour 2x
// then a 3x3 conv (key "conv"). The UNet passes an explicit output size when the latent size is not a multiple of
// its total downsampling factor: 2x, or 2x-1 below an odd skip size (exactly torch's nearest resize to that size);
// other sizes are refused.
#pragma once
#include "models/layers.h"

namespace sdpp::nn {

class Upsample2D {
 public:
  Upsample2D() = default;
  // `w` is the upsampler's prefix, e.g. "up_blocks.0.upsamplers.0".
  Upsample2D(const WeightLoader& w, int64_t channels, int64_t out_channels);

  // x [N, C, H, W] -> [N, out, 2H, 2W]. output_h/output_w (0 = 2x) may be 2H or 2H-1 / 2W or 2W-1.
  Tensor forward(const Tensor& x, int64_t output_h = 0, int64_t output_w = 0) const;
  Tensor operator()(const Tensor& x, int64_t output_h = 0, int64_t output_w = 0) const {
    return forward(x, output_h, output_w);
  }

 private:
  Conv2d conv_;
  int64_t channels_ = 0;
};

}  // namespace sdpp::nn
