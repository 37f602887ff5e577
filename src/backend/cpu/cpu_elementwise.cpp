// Elementwise arithmetic with the broadcasts ops.h allows, and the fused linear combination.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace sdpp::cpu {
namespace {

constexpr int64_t kGrain = 1 << 14;

// out = f(a, b) where b has a's shape, is [N, C] over an [N, C, ...] a, or is [C] over a's last dim.
template <class F>
Tensor binary(const Tensor& a, const Tensor& b, const char* op, F f) {
  const float* ap = in_f32(a, op, "a");
  const float* bp = in_f32(b, op, "b");
  Tensor out = new_f32(a.shape());
  float* o = out.f32();
  const int64_t n = a.numel();
  if (a.shape() == b.shape()) {
    parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) o[i] = f(ap[i], bp[i]);
    });
  } else if (b.ndim() == 2 && a.ndim() > 2 && b.dim(0) == a.dim(0) && b.dim(1) == a.dim(1)) {
    // [N, C] per (sample, channel) plane of `inner` values.
    const int64_t planes = b.numel(), inner = planes ? n / planes : 0;
    parallel_for(planes, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const float bv = bp[p];
        for (int64_t i = p * inner; i < (p + 1) * inner; ++i) o[i] = f(ap[i], bv);
      }
    });
  } else if (b.ndim() == 1 && a.ndim() >= 1 && b.dim(0) == a.dim(-1)) {
    const int64_t C = b.dim(0), rows = C ? n / C : 0;
    parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) o[r * C + c] = f(ap[r * C + c], bp[c]);
    });
  } else {
    shape_error(std::string(op) + ": cannot broadcast " + shape_str(b.shape()) + " to " + shape_str(a.shape()));
  }
  return out;
}

template <class F>
Tensor unary(const Tensor& x, const char* op, F f) {
  const float* xp = in_f32(x, op, "input");
  Tensor out = new_f32(x.shape());
  float* o = out.f32();
  parallel_for(x.numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) o[i] = f(xp[i]);
  });
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(a, b, "add", [](float x, float y) { return x + y; }); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(a, b, "mul", [](float x, float y) { return x * y; }); }

Tensor scale(const Tensor& x, float factor, float offset) {
  return unary(x, "scale", [=](float v) { return v * factor + offset; });
}

Tensor clamp(const Tensor& x, float lo, float hi) {
  if (!(lo <= hi)) throw Error(ErrorCode::InvalidArgument, "clamp: lo " + std::to_string(lo) + " > hi " + std::to_string(hi));
  return unary(x, "clamp", [=](float v) { return std::min(std::max(v, lo), hi); });
}

Tensor exp(const Tensor& x) { return unary(x, "exp", [](float v) { return std::exp(v); }); }

Tensor lincomb(std::span<const Tensor> xs, std::span<const double> coeffs) {
  if (xs.empty() || xs.size() != coeffs.size())
    throw Error(ErrorCode::Internal, "lincomb: " + std::to_string(xs.size()) + " inputs for " + std::to_string(coeffs.size()) + " coefficients");
  std::vector<const float*> ptrs;
  std::vector<float> c;
  for (size_t i = 0; i < xs.size(); ++i) {
    ptrs.push_back(in_f32(xs[i], "lincomb", "input"));
    if (xs[i].shape() != xs[0].shape()) shape_error("lincomb: " + shape_str(xs[i].shape()) + " vs " + shape_str(xs[0].shape()));
    c.push_back(float(coeffs[i]));
  }
  Tensor out = new_f32(xs[0].shape());
  float* o = out.f32();
  // Terms are added in the order given, so callers control the rounding order exactly.
  parallel_for(out.numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) o[i] = c[0] * ptrs[0][i];
    for (size_t t = 1; t < ptrs.size(); ++t) {
      const float ct = c[t];
      const float* p = ptrs[t];
      for (int64_t i = i0; i < i1; ++i) o[i] += ct * p[i];
    }
  });
  return out;
}

}  // namespace sdpp::cpu
