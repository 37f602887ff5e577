// diffusers `Upsample2D` (upsampling.py) with use_conv=True, as Stable Diffusion uses it: nearest-neighbour 2x
// then a 3x3 conv (key "conv"). The UNet passes an explicit output size when the latent size is not a multiple of
// its total downsampling factor: 2x, or 2x-1 below an odd skip size (exactly torch's nearest resize to that size);
// other sizes are refused.
//
// Computed without the upsampled image: an output pixel (2i+a, 2j+b) of the 3x3 conv over the 2x image sees only
// input rows i-1+a..i+a and columns j-1+b..j+b, each tap of the 3x3 kernel landing on one of them. So each of the
// four phases (a, b) is a 2x2 conv of the input whose weights are sums of the 3x3 taps, and the four are one 2x2
// conv with padding 1 and 4x the outputs (made at load, in f32), followed by ops::interleave_phases. That is 16 taps
// at a quarter of the pixels instead of 9: 4/9 of the multiply-adds (plus the border of (H+1)(W+1) outputs), and no
// 4x-sized copy of the input. An odd output size drops the upsampled image's last row or column before the conv, so
// the conv's padding meets a tap the merged weights share with a kept one: those sizes take the 3x3 conv over the
// upsampled image, with the stored weights uploaded on first use (kept on the host until then).
// SDPP_SUBPIXEL_UPSAMPLE=0 at load keeps the 3x3 conv over the upsampled image for every size.
#pragma once
#include <memory>
#include <mutex>

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

  // The four phases' 2x2 weights of a 3x3 conv weight w [O, C, 3, 3] (f32, cpu): [4 O, C, 2, 2], phase p = 2a + b
  // in rows [p O, (p+1) O).
  static Tensor phase_weights(const Tensor& w);

 private:
  // The 3x3 conv over the upsampled image: its weights on the host until a forward needs them.
  struct UpsampledConv {
    std::once_flag uploaded;
    Tensor host_weight;  // [O, C, 3, 3] in the compute dtype, on the cpu
    Conv2d conv;         // its bias is on the compute device from the start
  };
  const Conv2d& upsampled_conv() const;

  Conv2d phases_;  // [4 O, C, 2, 2], padding 1; undefined when the 3x3 conv takes every size
  std::shared_ptr<UpsampledConv> upsampled_;
  int64_t channels_ = 0;
};

}  // namespace sdpp::nn
