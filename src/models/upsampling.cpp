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
  if ((output_h != 0 && output_h != h2) || (output_w != 0 && output_w != w2)) {
    throw Error(ErrorCode::Unsupported, "Upsample2D: output size [" + std::to_string(output_h) + ", " +
                                            std::to_string(output_w) + "] is not 2x the input " +
                                            shape_str(x.shape()));
  }
  return conv_(ops::upsample_nearest2x(x));
}

}  // namespace sdpp::nn
