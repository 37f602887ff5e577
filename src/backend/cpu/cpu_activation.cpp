// Pointwise activations and GEGLU.
#include <algorithm>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_math.h"
#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace sdpp::cpu {
namespace {
constexpr int64_t kGrain = 1 << 14;
}  // namespace

// One plain loop per kind so each vectorises (exp_approx and friends inline into every clone).
SDPP_CPU_CLONES void activate_inplace(float* p, int64_t n, ops::Activation act) {
  switch (act) {
    case ops::Activation::None:
      return;
    case ops::Activation::SiLU:
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] / (1.0f + exp_approx(-p[i]));
      return;
    case ops::Activation::GELU:
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] * normal_cdf_approx(p[i]);
      return;
    case ops::Activation::GELUTanh:
      // 0.5 x (1 + tanh(u)) == x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
      for (int64_t i = 0; i < n; ++i) {
        const float x = p[i];
        const float two_u = 1.5957691216057308f * (x + 0.044715f * x * x * x);
        p[i] = x / (1.0f + exp_approx(-two_u));
      }
      return;
    case ops::Activation::QuickGELU:
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] / (1.0f + exp_approx(-1.702f * p[i]));
      return;
    case ops::Activation::ReLU:
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] > 0.0f ? p[i] : 0.0f;
      return;
    case ops::Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
      return;
  }
}

Tensor activation(const Tensor& x, ops::Activation act) {
  const float* xp = in_f32(x, "activation", "input");
  Tensor out = new_f32(x.shape());
  float* op = out.f32();
  parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    std::copy(xp + begin, xp + end, op + begin);
    activate_inplace(op + begin, end - begin, act);
  });
  return out;
}

namespace {
// out[i] = hidden[i] * gelu(gate[i]) for one row.
SDPP_CPU_CLONES void geglu_row(const float* hidden, const float* gate, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = hidden[i] * (gate[i] * normal_cdf_approx(gate[i]));
}
}  // namespace

Tensor geglu(const Tensor& x) {
  const float* xp = in_f32(x, "geglu", "input");
  if (x.ndim() < 1 || x.dim(-1) % 2 != 0) shape_error("geglu: last dim must be even, got " + shape_str(x.shape()));
  const int64_t F = x.dim(-1) / 2, rows = F ? x.numel() / (2 * F) : 0;
  Shape out_shape = x.shape();
  out_shape.back() = F;
  Tensor out = new_f32(out_shape);
  float* op = out.f32();
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(F, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) geglu_row(xp + r * 2 * F, xp + r * 2 * F + F, op + r * F, F);  // [..., :F], [..., F:]
  });
  return out;
}

}  // namespace sdpp::cpu
