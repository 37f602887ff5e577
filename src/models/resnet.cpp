#include "models/resnet.h"

#include "core/error.h"

namespace sdpp::nn {

ResnetBlock2D::ResnetBlock2D(const WeightLoader& w, int64_t in_channels, int64_t out_channels, int64_t temb_channels,
                             int groups, float eps, float output_scale_factor)
    : norm1_(w.sub("norm1"), groups, in_channels, eps),
      norm2_(w.sub("norm2"), groups, out_channels, eps),
      conv1_(w.sub("conv1"), in_channels, out_channels, 3),
      conv2_(w.sub("conv2"), out_channels, out_channels, 3),
      in_channels_(in_channels),
      out_channels_(out_channels),
      output_scale_factor_(output_scale_factor) {
  if (output_scale_factor <= 0.0f) {
    throw Error(ErrorCode::InvalidArgument,
                "ResnetBlock2D '" + w.key("") + "': output_scale_factor must be > 0, got " +
                    std::to_string(output_scale_factor));
  }
  if (temb_channels > 0) time_emb_proj_ = Linear(w.sub("time_emb_proj"), temb_channels, out_channels);
  if (in_channels != out_channels) conv_shortcut_ = Conv2d(w.sub("conv_shortcut"), in_channels, out_channels, 1);
}

Tensor ResnetBlock2D::time_term(const Tensor& temb) const {
  if (!time_emb_proj_.weight.defined())
    throw Error(ErrorCode::InvalidArgument, "ResnetBlock2D: this block has no time_emb_proj");
  return time_emb_proj_(temb);  // [N, out]
}

Tensor ResnetBlock2D::forward(const Tensor& x, const Tensor& time_term) const {
  if (x.ndim() != 4 || x.dim(1) != in_channels_) {
    throw Error(ErrorCode::ShapeMismatch, "ResnetBlock2D: expected input [N, " + std::to_string(in_channels_) +
                                              ", H, W], got " + shape_str(x.shape()));
  }
  if (time_emb_proj_.weight.defined() != time_term.defined()) {
    throw Error(ErrorCode::InvalidArgument, time_term.defined()
                                                ? "ResnetBlock2D: got a time term but this block has no time_emb_proj"
                                                : "ResnetBlock2D: this block has a time_emb_proj but got no time term");
  }
  if (time_term.defined() && time_term.shape() != Shape{x.dim(0), out_channels_}) {
    throw Error(ErrorCode::ShapeMismatch, "ResnetBlock2D: expected a time term [" + std::to_string(x.dim(0)) + ", " +
                                              std::to_string(out_channels_) + "], got " +
                                              shape_str(time_term.shape()));
  }
  // The shortcut projection needs only x: it may run beside the norms and conv1 (Backend::begin_side; on the GPU only
  // with SDPP_CUDA_SIDE=1, measured slower in the recorded step), and conv2 waits for it.
  Tensor shortcut = x;
  if (conv_shortcut_.weight.defined()) {
    const ops::SideWork side(x.device());
    shortcut = conv_shortcut_(x);
  }
  Tensor h = norm1_(x, ops::Activation::SiLU);
  h = conv1_(h);  // [N, out, H, W]
  // diffusers: h + time_emb_proj(silu(temb))[:, :, None, None]; the sum is taken by norm2, which reads it as it reads
  // h (the only use of the sum).
  h = norm2_(h, ops::Activation::SiLU, time_term);
  ops::join_side(x.device());
  Tensor out = conv2_(h, &shortcut);  // residual fused into conv2
  if (output_scale_factor_ != 1.0f) out = ops::scale(out, 1.0f / output_scale_factor_);
  return out;
}

}  // namespace sdpp::nn
