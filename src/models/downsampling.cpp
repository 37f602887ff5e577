#include "models/downsampling.h"

#include "core/error.h"

namespace sdpp::nn {

Downsample2D::Downsample2D(const WeightLoader& w, int64_t channels, int64_t out_channels, int padding)
    : weight_(ops::prepare_conv_weight(w.get("conv.weight", {out_channels, channels, 3, 3}))),
      bias_(w.get("conv.bias", {out_channels})),
      channels_(channels),
      padding_(padding) {
  if (padding < 0) {
    throw Error(ErrorCode::InvalidArgument,
                "Downsample2D '" + w.key("conv") + "': padding must be >= 0, got " + std::to_string(padding));
  }
}

Tensor Downsample2D::forward(const Tensor& x) const {
  if (x.ndim() != 4 || x.dim(1) != channels_) {
    throw Error(ErrorCode::ShapeMismatch, "Downsample2D: expected input [N, " + std::to_string(channels_) +
                                              ", H, W], got " + shape_str(x.shape()));
  }
  ops::Conv2dOptions options;
  options.stride = 2;
  if (padding_ == 0) {
    // F.pad(x, (0, 1, 0, 1)) then an unpadded conv.
    options.pad_bottom = 1;
    options.pad_right = 1;
  } else {
    options.pad_top = options.pad_left = options.pad_bottom = options.pad_right = padding_;
  }
  return ops::conv2d(x, weight_, bias_, options);
}

}  // namespace sdpp::nn
