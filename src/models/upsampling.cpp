#include "models/upsampling.h"

#include "core/error.h"

namespace sdpp::nn {

Upsample2D::Upsample2D(const WeightLoader& w, int64_t channels, int64_t out_channels)
    : conv_(w.sub("conv"), channels, out_channels, 3), channels_(channels) {}

Tensor Upsample2D::forward(const Tensor& x, int64_t output_h, int64_t output_w) const {
  if (x.ndim() != 4 || x.dim(1) != channels_) {
    throw Error(ErrorCode::ShapeMismatch, "Upsample2D: expected input [N, " + std::to_string(channels_) +
                                              ", H, W], got " + shape_str(x.shape()));
  }
  const int64_t h2 = 2 * x.dim(2), w2 = 2 * x.dim(3);
  const int64_t out_h = output_h != 0 ? output_h : h2, out_w = output_w != 0 ? output_w : w2;
  if (out_h < h2 - 1 || out_h > h2 || out_w < w2 - 1 || out_w > w2) {
    throw Error(ErrorCode::Unsupported, "Upsample2D: output size [" + std::to_string(output_h) + ", " +
                                            std::to_string(output_w) + "] is neither 2x nor 2x-1 the input " +
                                            shape_str(x.shape()));
  }
  Tensor up = ops::upsample_nearest2x(x);
  // torch's nearest resize from n to 2n-1 picks source floor(i * n / (2n-1)) = floor(i / 2) for every i < 2n-1:
  // the 2x upsample with its last row/column dropped (what the UNet needs below odd skip sizes).
  if (out_h != h2) up = ops::slice(up, 2, 0, out_h);
  if (out_w != w2) up = ops::slice(up, 3, 0, out_w);
  return conv_(up);
}

}  // namespace sdpp::nn
