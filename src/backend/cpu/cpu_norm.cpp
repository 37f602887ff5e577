// GroupNorm and LayerNorm. Statistics are two-pass in double so they match PyTorch's to ~1e-7 even for
// activations with a large mean (VAE decoder), where a one-pass E[x^2] - E[x]^2 in f32 loses digits.
#include <cmath>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_math.h"
#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace sdpp::cpu {
namespace {

struct Moments {
  double mean, rstd;
};

// Biased variance (as torch.nn.functional.group_norm / layer_norm), eps inside the square root. Sums run over
// 8 double lanes so the loops vectorise; the lane split only changes rounding far below f32 precision.
SDPP_CPU_CLONES Moments moments(const float* p, int64_t n, float eps) {
  constexpr int kLanes = 8;
  double lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += double(p[i + l]);
  double sum = 0.0;
  for (; i < n; ++i) sum += double(p[i]);
  for (double l : lane) sum += l;
  const double mean = n ? sum / double(n) : 0.0;
  for (double& l : lane) l = 0.0;
  for (i = 0; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double d = double(p[i + l]) - mean;
      lane[l] += d * d;
    }
  double sq = 0.0;
  for (; i < n; ++i) sq += (double(p[i]) - mean) * (double(p[i]) - mean);
  for (double l : lane) sq += l;
  const double var = n ? sq / double(n) : 0.0;
  return {mean, 1.0 / std::sqrt(var + double(eps))};
}

// d = (s - centre) * a + b over n values. (Not s * a + (b - centre * a): where the centre is far from zero against
// the spread, that sum of two large terms loses the result's low bits.)
SDPP_CPU_CLONES void affine(const float* s, float* d, int64_t n, float centre, float a, float b) {
  for (int64_t i = 0; i < n; ++i) d[i] = (s[i] - centre) * a + b;
}

}  // namespace

Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                  ops::Activation act) {
  const float* xp = in_f32(x, "group_norm", "input");
  if (x.ndim() < 2 || groups <= 0 || x.dim(1) % groups != 0)
    shape_error("group_norm: " + std::to_string(groups) + " groups for " + shape_str(x.shape()));
  const int64_t N = x.dim(0), C = x.dim(1), spatial = (N * C != 0) ? x.numel() / (N * C) : 0, cpg = C / groups;
  const float* gp = optional_vector(gamma, C, "group_norm", "gamma");
  const float* bp = optional_vector(beta, C, "group_norm", "beta");
  Tensor out = new_f32(x.shape());
  float* op = out.f32();
  // One task per (sample, group): a contiguous block of cpg * spatial values.
  parallel_for(N * groups, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t g = t % groups;
      const float* src = xp + t * cpg * spatial;
      float* dst = op + t * cpg * spatial;
      const Moments m = moments(src, cpg * spatial, eps);
      for (int64_t ci = 0; ci < cpg; ++ci) {
        const int64_t c = g * cpg + ci;
        // y = (x - mean) * rstd * gamma + beta
        const float a = float(m.rstd) * (gp ? gp[c] : 1.0f);
        const float* s = src + ci * spatial;
        float* d = dst + ci * spatial;
        affine(s, d, spatial, float(m.mean), a, bp ? bp[c] : 0.0f);
        activate_inplace(d, spatial, act);
      }
    }
  });
  return out;
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  const float* xp = in_f32(x, "layer_norm", "input");
  if (x.ndim() < 1) shape_error("layer_norm: input " + shape_str(x.shape()) + " has no last dim");
  const int64_t C = x.dim(-1), rows = C ? x.numel() / C : 0;
  const float* gp = optional_vector(gamma, C, "layer_norm", "gamma");
  const float* bp = optional_vector(beta, C, "layer_norm", "beta");
  Tensor out = new_f32(x.shape());
  float* op = out.f32();
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* s = xp + r * C;
      float* d = op + r * C;
      const Moments m = moments(s, C, eps);
      const float mean = float(m.mean), rstd = float(m.rstd);
      for (int64_t c = 0; c < C; ++c) d[c] = (s[c] - mean) * rstd * (gp ? gp[c] : 1.0f) + (bp ? bp[c] : 0.0f);
    }
  });
  return out;
}

}  // namespace sdpp::cpu
