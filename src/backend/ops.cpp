#include "backend/ops.h"

#include "backend/backend.h"
#include "core/error.h"

namespace sdpp::ops {
namespace {

Backend& backend_of(const Tensor& x, const char* op) {
  if (!x.defined()) throw Error(ErrorCode::Internal, std::string(op) + ": undefined input tensor");
  return backend_for(x.device());
}

void same_device(const Tensor& a, const Tensor& b, const char* op) {
  if (b.defined() && !(a.device() == b.device()))
    throw Error(ErrorCode::Internal, std::string(op) + ": tensors on " + a.device().str() + " and " + b.device().str());
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const LinearOptions& options) {
  same_device(x, weight, "linear");
  same_device(x, bias, "linear");
  if (x.ndim() < 1 || weight.ndim() != 2 || x.dim(-1) != weight.dim(1))
    throw Error(ErrorCode::ShapeMismatch, "linear: input " + shape_str(x.shape()) + " vs weight " + shape_str(weight.shape()));
  return backend_of(x, "linear").linear(x, weight, bias, options);
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options) {
  same_device(x, weight, "conv2d");
  same_device(x, bias, "conv2d");
  if (x.ndim() != 4 || weight.ndim() != 4 || x.dim(1) != weight.dim(1))
    throw Error(ErrorCode::ShapeMismatch, "conv2d: input " + shape_str(x.shape()) + " vs weight " + shape_str(weight.shape()));
  return backend_of(x, "conv2d").conv2d(x, weight, bias, options);
}

Tensor prepare_conv_weight(const Tensor& weight) {
  if (weight.ndim() != 4)
    throw Error(ErrorCode::ShapeMismatch, "conv2d weight: expected [O, C, kh, kw], got " + shape_str(weight.shape()));
  return backend_of(weight, "prepare_conv_weight").prepare_conv_weight(weight);
}

Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, Activation act,
                  const Tensor& add) {
  if (x.ndim() < 2 || groups <= 0 || x.dim(1) % groups != 0)
    throw Error(ErrorCode::ShapeMismatch, "group_norm: " + std::to_string(groups) + " groups for " + shape_str(x.shape()));
  if (add.defined()) {
    same_device(x, add, "group_norm");
    if (add.shape() != Shape{x.dim(0), x.dim(1)})
      throw Error(ErrorCode::ShapeMismatch, "group_norm: added " + shape_str(add.shape()) + " for input " +
                                                shape_str(x.shape()) + " (expected [N, C])");
  }
  return backend_of(x, "group_norm").group_norm(x, groups, gamma, beta, eps, act, add);
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  return backend_of(x, "layer_norm").layer_norm(x, gamma, beta, eps);
}

LinearAndNorm linear_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const LinearOptions& options,
                                const Tensor& norm_gamma, const Tensor& norm_beta, float eps) {
  same_device(x, weight, "linear_layer_norm");
  same_device(x, bias, "linear_layer_norm");
  same_device(x, norm_gamma, "linear_layer_norm");
  same_device(x, norm_beta, "linear_layer_norm");
  if (x.ndim() < 1 || weight.ndim() != 2 || x.dim(-1) != weight.dim(1))
    throw Error(ErrorCode::ShapeMismatch,
                "linear_layer_norm: input " + shape_str(x.shape()) + " vs weight " + shape_str(weight.shape()));
  if (norm_gamma.numel() != weight.dim(0) || norm_beta.numel() != weight.dim(0))
    throw Error(ErrorCode::ShapeMismatch, "linear_layer_norm: norm gamma " + shape_str(norm_gamma.shape()) +
                                              " / beta " + shape_str(norm_beta.shape()) + " for " +
                                              std::to_string(weight.dim(0)) + " outputs");
  if (options.activation != Activation::None)
    throw Error(ErrorCode::InvalidArgument, "linear_layer_norm: an activation before the norm is not supported");
  return backend_of(x, "linear_layer_norm").linear_layer_norm(x, weight, bias, options, norm_gamma, norm_beta, eps);
}

Tensor activation(const Tensor& x, Activation act) {
  if (act == Activation::None) return x;
  return backend_of(x, "activation").activation(x, act);
}

Tensor geglu(const Tensor& x) {
  if (x.dim(-1) % 2 != 0) throw Error(ErrorCode::ShapeMismatch, "geglu: odd last dim in " + shape_str(x.shape()));
  return backend_of(x, "geglu").geglu(x);
}

Tensor linear_geglu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  same_device(x, weight, "linear_geglu");
  same_device(x, bias, "linear_geglu");
  if (weight.ndim() != 2 || weight.dim(0) % 2 != 0 || x.ndim() < 1 || x.dim(-1) != weight.dim(1))
    throw Error(ErrorCode::ShapeMismatch,
                "linear_geglu: input " + shape_str(x.shape()) + " vs weight " + shape_str(weight.shape()));
  return backend_of(x, "linear_geglu").linear_geglu(x, weight, bias);
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options) {
  same_device(q, k, "attention");
  same_device(q, v, "attention");
  if (q.ndim() != 3 || k.ndim() != 3 || v.ndim() != 3 || options.heads < 1 || q.dim(2) % options.heads != 0 ||
      k.dim(1) != v.dim(1) || q.dim(0) != k.dim(0) || q.dim(2) != k.dim(2))
    throw Error(ErrorCode::ShapeMismatch, "attention: q " + shape_str(q.shape()) + " k " + shape_str(k.shape()) +
                                              " v " + shape_str(v.shape()) + " heads " + std::to_string(options.heads));
  return backend_of(q, "attention").attention(q, k, v, options);
}

Tensor attention_packed(const Tensor& packed, const Tensor& kv, const AttentionOptions& options) {
  same_device(packed, kv, "attention");
  const int64_t parts = kv.defined() ? 1 : 3;
  bool ok = packed.ndim() == 3 && options.heads >= 1 && packed.dim(2) % (parts * options.heads) == 0;
  if (ok && kv.defined()) {
    ok = kv.ndim() == 3 && kv.dim(0) == packed.dim(0) && kv.dim(2) == 2 * packed.dim(2);
  }
  if (!ok)
    throw Error(ErrorCode::ShapeMismatch, "attention: packed " + shape_str(packed.shape()) + " kv " +
                                              (kv.defined() ? shape_str(kv.shape()) : "-") + " heads " +
                                              std::to_string(options.heads));
  return backend_of(packed, "attention").attention_packed(packed, kv, options);
}

Tensor upsample_nearest2x(const Tensor& x) { return backend_of(x, "upsample_nearest2x").upsample_nearest2x(x); }

Tensor interleave_phases(const Tensor& y, int64_t out_h, int64_t out_w) {
  return backend_of(y, "interleave_phases").interleave_phases(y, out_h, out_w);
}

Tensor concat(std::span<const Tensor> xs, int dim) {
  if (xs.empty()) throw Error(ErrorCode::Internal, "concat: no inputs");
  for (const Tensor& x : xs) same_device(xs[0], x, "concat");
  return backend_of(xs[0], "concat").concat(xs, dim);
}

Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) {
  return backend_of(x, "slice").slice(x, dim, start, end);
}

Tensor to_tokens(const Tensor& x) { return backend_of(x, "to_tokens").to_tokens(x); }

Tensor from_tokens(const Tensor& x, int64_t height, int64_t width) {
  return backend_of(x, "from_tokens").from_tokens(x, height, width);
}

Tensor add(const Tensor& a, const Tensor& b) {
  same_device(a, b, "add");
  return backend_of(a, "add").add(a, b);
}

Tensor mul(const Tensor& a, const Tensor& b) {
  same_device(a, b, "mul");
  return backend_of(a, "mul").mul(a, b);
}

Tensor scale(const Tensor& x, float factor, float offset) { return backend_of(x, "scale").scale(x, factor, offset); }

Tensor clamp(const Tensor& x, float lo, float hi) { return backend_of(x, "clamp").clamp(x, lo, hi); }

Tensor exp(const Tensor& x) { return backend_of(x, "exp").exp(x); }

Tensor lincomb(std::span<const Tensor> xs, std::span<const double> coeffs) {
  if (xs.empty() || xs.size() != coeffs.size()) throw Error(ErrorCode::Internal, "lincomb: inputs and coefficients differ in count");
  for (const Tensor& x : xs) {
    same_device(xs[0], x, "lincomb");
    if (x.shape() != xs[0].shape())
      throw Error(ErrorCode::ShapeMismatch, "lincomb: " + shape_str(x.shape()) + " vs " + shape_str(xs[0].shape()));
  }
  return backend_of(xs[0], "lincomb").lincomb(xs, coeffs);
}

Tensor embedding(const Tensor& table, const Tensor& ids) { return backend_of(table, "embedding").embedding(table, ids); }

Tensor gather_rows(const Tensor& x, std::span<const int64_t> index) {
  return backend_of(x, "gather_rows").gather_rows(x, index);
}

SideWork::SideWork(Device device) : device_(device) { backend_for(device_).begin_side(); }
SideWork::~SideWork() { backend_for(device_).end_side(); }
void join_side(Device device) { backend_for(device).join_side(); }

}  // namespace sdpp::ops
