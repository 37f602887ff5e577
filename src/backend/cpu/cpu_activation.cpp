// Pointwise activations and GEGLU.
#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace sdpp::cpu {

namespace {
template <class F>
void apply(float* p, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) p[i] = f(p[i]);
}
constexpr int64_t kGrain = 1 << 14;
}  // namespace

void activate_inplace(float* p, int64_t n, ops::Activation act) {
  switch (act) {
    case ops::Activation::None: return;
    case ops::Activation::SiLU: return apply(p, n, [](float x) { return x * sigmoid(x); });
    case ops::Activation::GELU: return apply(p, n, gelu_erf);
    case ops::Activation::GELUTanh: return apply(p, n, gelu_tanh);
    case ops::Activation::QuickGELU: return apply(p, n, [](float x) { return x * sigmoid(1.702f * x); });
    case ops::Activation::ReLU: return apply(p, n, [](float x) { return x > 0.0f ? x : 0.0f; });
    case ops::Activation::Tanh: return apply(p, n, [](float x) { return std::tanh(x); });
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

Tensor geglu(const Tensor& x) {
  const float* xp = in_f32(x, "geglu", "input");
  if (x.ndim() < 1 || x.dim(-1) % 2 != 0) shape_error("geglu: last dim must be even, got " + shape_str(x.shape()));
  const int64_t F = x.dim(-1) / 2, rows = F ? x.numel() / (2 * F) : 0;
  Shape out_shape = x.shape();
  out_shape.back() = F;
  Tensor out = new_f32(out_shape);
  float* op = out.f32();
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(F, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* hidden = xp + r * 2 * F;  // [..., :F]
      const float* gate = hidden + F;        // [..., F:]
      float* o = op + r * F;
      for (int64_t i = 0; i < F; ++i) o[i] = hidden[i] * gelu_erf(gate[i]);
    }
  });
  return out;
}

}  // namespace sdpp::cpu
