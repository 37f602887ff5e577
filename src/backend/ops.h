// The op set: everything model, scheduler and pipeline code computes goes through these functions.
// Each dispatches to the backend of its first tensor argument's device; all tensor arguments must share it.
// Shapes are logical (NCHW / [B, L, C]); the backend owns physical layout and compute dtype (f32 on the cpu,
// f16/bf16 storage with f32 accumulation on cuda). The cpu backend is the readable reference.
#pragma once
#include <optional>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace sdpp::ops {

enum class Activation { None, SiLU, GELU /* erf */, GELUTanh, QuickGELU /* x*sigmoid(1.702x) */, ReLU, Tanh };

struct LinearOptions {
  Activation activation = Activation::None;  // applied after bias
  const Tensor* residual = nullptr;           // added last: out = act(x W^T + b) + residual
};
// x [..., in], weight [out, in], bias [out] or undefined -> [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const LinearOptions& options = {});

struct Conv2dOptions {
  int stride = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // zero padding
  const Tensor* residual = nullptr;                                // [N, O, Ho, Wo], added after bias
  static Conv2dOptions same(int kernel, int stride = 1) {
    const int p = kernel / 2;
    return {stride, p, p, p, p, nullptr};
  }
};
// x [N, C, H, W], weight [O, C, kh, kw], bias [O] or undefined -> [N, O, Ho, Wo]
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options = {});
// The weight as its device's conv2d reads it fastest (Backend::prepare_conv_weight); layers call it once at load.
Tensor prepare_conv_weight(const Tensor& weight);

// x [N, C, ...] normalised over (C/groups, ...) per group; gamma/beta [C]; optional activation fused after.
// `add` [N, C] (optional) is added to x first, broadcast over the pixels: group_norm(x + add[:, :, None, None]) as
// a resnet's time embedding meets its second norm, without the sum being written out where the backend fuses it.
Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                  Activation activation = Activation::None, const Tensor& add = {});
// x [..., C] normalised over the last dim; gamma/beta [C].
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
// out = linear(x, weight, bias, options) and normed = layer_norm(out, norm_gamma, norm_beta, eps): a transformer
// block's residual stream and the next sublayer's input. Backends may make both in one pass, so the norm does not read
// back what the projection wrote. Activations are not taken (options.activation must be None).
struct LinearAndNorm {
  Tensor out, normed;
};
LinearAndNorm linear_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const LinearOptions& options,
                                const Tensor& norm_gamma, const Tensor& norm_beta, float eps);

Tensor activation(const Tensor& x, Activation activation);
// x [..., 2F] -> [..., F]: hidden * gelu(gate) where hidden = x[..., :F], gate = x[..., F:] (diffusers GEGLU).
Tensor geglu(const Tensor& x);
// geglu(linear(x, weight, bias)): diffusers' GEGLU module, weight [2F, K] (hidden rows, then gate rows) -> [..., F].
// Backends may fuse the two, so the [..., 2F] projection is never written out.
Tensor linear_geglu(const Tensor& x, const Tensor& weight, const Tensor& bias);

struct AttentionOptions {
  int heads = 1;
  float scale = 0.0f;     // 0 -> 1/sqrt(head_dim)
  bool causal = false;    // CLIP's causal mask (query i sees keys <= i)
  bool upcast = false;    // SD 2.x upcast_attention: softmax/QK in f32 (always so on the cpu)
};
// q [B, Lq, H*D], k/v [B, Lk, H*D] -> [B, Lq, H*D]; softmax(q k^T * scale) v per head.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options);
// The same over projections that one GEMM made side by side: self-attention takes `packed` [B, L, 3*H*D] (q, k, v)
// and no `kv`; cross-attention takes q as `packed` [B, Lq, H*D] and `kv` [B, Lk, 2*H*D] (k, v). Backends read the
// parts in place where they can instead of copying them out.
Tensor attention_packed(const Tensor& packed, const Tensor& kv, const AttentionOptions& options);

Tensor upsample_nearest2x(const Tensor& x);  // [N, C, H, W] -> [N, C, 2H, 2W]
// The four phases of a 2x upsampling conv side by side -> one image: y [N, 4C, H+1, W+1] holds phase p = 2a + b in
// channels [p C, (p+1) C), and out[n, c, 2i+a, 2j+b] = y[n, p C + c, i+a, j+b] for the out_h x out_w pixels kept
// (2H-1 or 2H rows, 2W-1 or 2W columns). nn::Upsample2D makes y with one 2x2 convolution (models/upsampling.h).
Tensor interleave_phases(const Tensor& y, int64_t out_h, int64_t out_w);
Tensor concat(std::span<const Tensor> xs, int dim);  // same shape except `dim`
Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end);  // copy of x[..., start:end, ...]

// Image <-> token layout for transformer blocks: [N, C, H, W] <-> [N, H*W, C].
Tensor to_tokens(const Tensor& x);
Tensor from_tokens(const Tensor& x, int64_t height, int64_t width);

// Elementwise; `b` either has x's shape, or is [N, C] broadcast over the spatial dims of an [N, C, H, W] `a`
// (the ResNet time-embedding add), or is [C] broadcast over the last dim.
Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float factor, float offset = 0.0f);  // x * factor + offset
Tensor clamp(const Tensor& x, float lo, float hi);
Tensor exp(const Tensor& x);
// out = sum_i coeffs[i] * xs[i] (all same shape), accumulated in f32: scheduler updates and CFG in one pass.
Tensor lincomb(std::span<const Tensor> xs, std::span<const double> coeffs);

// table [V, D], ids [B, L] (i64, on the cpu) -> [B, L, D] on table's device.
Tensor embedding(const Tensor& table, const Tensor& ids);
// Rows of x [B, L, D] picked per batch: out[b] = x[b, index[b]] -> [B, D] (CLIP pooled output at EOS).
Tensor gather_rows(const Tensor& x, std::span<const int64_t> index);

// Ops made while a SideWork lives run beside the ops that follow it on `device` (Backend::begin_side), until
// join_side(device); tensors they read must live until then.
class SideWork {
 public:
  explicit SideWork(Device device);
  ~SideWork();
  SideWork(const SideWork&) = delete;
  SideWork& operator=(const SideWork&) = delete;

 private:
  Device device_;
};
void join_side(Device device);

}  // namespace sdpp::ops
