#include "models/upsampling.h"

#include <vector>

#include "core/env_flag.h"
#include "core/error.h"

namespace sdpp::nn {
namespace {

bool subpixel_enabled() { return !env_is("SDPP_SUBPIXEL_UPSAMPLE", "0"); }

// Which 3x3 taps (along one axis) land on input offset u (0: row i-1+a, 1: row i+a) for output phase a: the
// upsampled rows 2i+a-1, 2i+a, 2i+a+1 come from input rows floor(./2).
constexpr bool kTapOnOffset[2][2][3] = {
    {{true, false, false}, {false, true, true}},  // a = 0: rows i-1, i, i
    {{true, true, false}, {false, false, true}},  // a = 1: rows i, i, i+1
};

// A host f32 tensor in the loader's dtype on its device.
Tensor upload(const Tensor& host, const WeightLoader& w) { return host.to(w.dtype()).to(w.device()); }

}  // namespace

Tensor Upsample2D::phase_weights(const Tensor& w) {
  if (w.ndim() != 4 || w.dim(2) != 3 || w.dim(3) != 3)
    throw Error(ErrorCode::ShapeMismatch, "Upsample2D: expected a 3x3 conv weight, got " + shape_str(w.shape()));
  const Tensor src = w.cpu_f32();
  const int64_t O = w.dim(0), C = w.dim(1);
  Tensor out = Tensor::zeros({4 * O, C, 2, 2});
  const float* s = src.f32();
  float* d = out.f32();
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int64_t oc = 0; oc < O * C; ++oc)  // (o, c) pairs: the same offset in both layouts
        for (int u = 0; u < 2; ++u)
          for (int v = 0; v < 2; ++v) {
            float sum = 0.0f;
            for (int r = 0; r < 3; ++r)
              for (int t = 0; t < 3; ++t)
                if (kTapOnOffset[a][u][r] && kTapOnOffset[b][v][t]) sum += s[oc * 9 + r * 3 + t];
            d[((2 * a + b) * O * C + oc) * 4 + u * 2 + v] = sum;
          }
  return out;
}

Upsample2D::Upsample2D(const WeightLoader& w, int64_t channels, int64_t out_channels)
    : upsampled_(std::make_shared<UpsampledConv>()), channels_(channels) {
  const WeightLoader conv = w.sub("conv");
  UpsampledConv& u = *upsampled_;
  u.conv.padding = 1;
  if (!subpixel_enabled()) {
    u.conv.weight = ops::prepare_conv_weight(conv.get("weight", {out_channels, channels, 3, 3}));
    u.conv.bias = conv.get("bias", {out_channels});
    std::call_once(u.uploaded, [] {});
    return;
  }
  // Each stored tensor read once, in f32 on the host: the phases are summed from it, the rest derived from it.
  const WeightLoader host = conv.on(Device::cpu(), DType::F32);
  const Tensor weight = host.get("weight", {out_channels, channels, 3, 3});
  const Tensor bias = host.get("bias", {out_channels});
  u.host_weight = weight.to(conv.dtype());
  u.conv.bias = upload(bias, conv);
  phases_.weight = ops::prepare_conv_weight(upload(phase_weights(weight), conv));
  const std::vector<float> b = bias.to_floats();
  std::vector<float> b4;
  for (int p = 0; p < 4; ++p) b4.insert(b4.end(), b.begin(), b.end());
  phases_.bias = upload(Tensor::from_floats(b4, {4 * out_channels}), conv);
  phases_.padding = 1;
}

const Conv2d& Upsample2D::upsampled_conv() const {
  UpsampledConv& u = *upsampled_;
  std::call_once(u.uploaded, [&u] {
    u.conv.weight = ops::prepare_conv_weight(u.host_weight.to(u.conv.bias.device()));
    u.host_weight = Tensor();
  });
  return u.conv;
}

Tensor Upsample2D::forward(const Tensor& x, int64_t output_h, int64_t output_w) const {
  if (!upsampled_) throw Error(ErrorCode::Internal, "Upsample2D: no weights loaded");
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
  if (phases_.weight.defined() && out_h == h2 && out_w == w2) return ops::interleave_phases(phases_(x), h2, w2);
  Tensor up = ops::upsample_nearest2x(x);
  // torch's nearest resize from n to 2n-1 picks source floor(i * n / (2n-1)) = floor(i / 2) for every i < 2n-1:
  // the 2x upsample with its last row/column dropped (what the UNet needs below odd skip sizes).
  if (out_h != h2) up = ops::slice(up, 2, 0, out_h);
  if (out_w != w2) up = ops::slice(up, 3, 0, out_w);
  return upsampled_conv()(up);
}

}  // namespace sdpp::nn
