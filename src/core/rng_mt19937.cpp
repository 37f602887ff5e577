// torch.Generator("cpu"): a 32-bit Mersenne Twister seeded from the low 32 bits of the seed (as at::mt19937 does),
// and torch.randn's float paths (aten/src/ATen/native/cpu/DistributionTemplates.h):
//   numel >= 16: every element first gets a 24-bit uniform, then each block of 16 becomes 8 Box-Muller pairs
//                (i, i + 8); a ragged tail re-draws 16 fresh uniforms for the last 16 elements and transforms those.
//                The transform is the AVX2 kernel's float arithmetic, reproduced bit for bit (see below).
//   numel <  16: one double normal per element from two 53-bit uniforms; the pair's second value (sin) is cached
//                in the generator and returned by the next scalar draw, across randn calls.
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>
#include <optional>
#include <vector>

#include "core/rng.h"

namespace sdpp {
namespace {

class Mt19937 {
 public:
  explicit Mt19937(uint32_t seed) {
    state_[0] = seed;
    for (uint32_t j = 1; j < kN; ++j) state_[j] = 1812433253u * (state_[j - 1] ^ (state_[j - 1] >> 30)) + j;
  }

  uint32_t next_u32() {
    if (next_ == kN) regenerate();
    uint32_t y = state_[next_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }

  // torch's random64(): the first draw is the high word.
  uint64_t next_u64() {
    const uint64_t hi = next_u32();
    const uint64_t lo = next_u32();
    return (hi << 32) | lo;
  }

 private:
  static constexpr uint32_t kN = 624, kM = 397;

  static uint32_t twist(uint32_t u, uint32_t v) {
    const uint32_t mixed = (u & 0x80000000u) | (v & 0x7fffffffu);
    return (mixed >> 1) ^ ((v & 1u) ? 0x9908b0dfu : 0u);
  }

  void regenerate() {
    for (uint32_t i = 0; i < kN; ++i) state_[i] = state_[(i + kM) % kN] ^ twist(state_[i], state_[(i + 1) % kN]);
    next_ = 0;
  }

  std::array<uint32_t, kN> state_{};
  uint32_t next_ = kN;  // a fresh engine regenerates before its first output
};

// torch's AVX2 build evaluates log and sincos with the Cephes single-precision polynomials (avx_mathfun.h),
// compiled with FMA contraction. The same operation sequence, with every fused multiply-add written out as
// std::fma and nothing else fusable, reproduces its float results exactly; a libm log/sin would be off by an ulp
// in about a third of the elements.
float cephes_logf(float x) {  // x in (0, 1]
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  float e = float(int((bits >> 23) & 0xffu) - 0x7f) + 1.0f;
  bits = (bits & 0x807fffffu) | 0x3f000000u;  // mantissa m in [0.5, 1): x = m * 2^e
  float m;
  std::memcpy(&m, &bits, 4);
  float r;  // log(x) = log1p(r) + e * ln2 with r in [sqrt(0.5) - 1, sqrt(2) - 1)
  if (m < 0.707106781186547524f) {
    r = (m - 1.0f) + m;
    e -= 1.0f;
  } else {
    r = m - 1.0f;
  }
  const float z = r * r;
  float y = 7.0376836292e-2f;
  for (float c : {-1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f, 1.4249322787e-1f, -1.6668057665e-1f,
                  2.0000714765e-1f, -2.4999993993e-1f, 3.3333331174e-1f})
    y = std::fma(y, r, c);
  y = std::fma(y * r, z, e * -2.12194440e-4f);
  y = std::fma(z, -0.5f, y);
  return std::fma(e, 0.693359375f, r + y);  // ln2 split in two parts (q2 + q1) for precision
}

void cephes_sincosf(float x, float* sin_out, float* cos_out) {
  uint32_t sin_sign = std::signbit(x) ? 0x80000000u : 0u;
  x = std::fabs(x);
  int octant = int(x * 1.27323954473516f);  // x * 4/pi, truncated
  octant = (octant + 1) & ~1;
  const float y = float(octant);
  sin_sign ^= uint32_t(octant & 4) << 29;
  const uint32_t cos_sign = uint32_t(~(octant - 2) & 4) << 29;
  const bool swap = (octant & 2) != 0;
  // Extended-precision reduction x - octant * pi/4 (pi/4 split in three parts).
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, -2.4187564849853515625e-4f, x);
  x = std::fma(y, -3.77489497744594108e-8f, x);
  const float z = x * x;
  float cos_poly = std::fma(std::fma(2.443315711809948e-5f, z, -1.388731625493765e-3f), z, 4.166664568298827e-2f);
  cos_poly = std::fma(cos_poly * z, z, -(z * 0.5f)) + 1.0f;
  float sin_poly = std::fma(std::fma(-1.9515295891e-4f, z, 8.3321608736e-3f), z, -1.6666654611e-1f);
  sin_poly = std::fma(sin_poly * z, x, x);
  const float s = swap ? cos_poly : sin_poly;
  const float c = swap ? sin_poly : cos_poly;
  uint32_t s_bits, c_bits;
  std::memcpy(&s_bits, &s, 4);
  std::memcpy(&c_bits, &c, 4);
  s_bits ^= sin_sign;
  c_bits ^= cos_sign;
  std::memcpy(sin_out, &s_bits, 4);
  std::memcpy(cos_out, &c_bits, 4);
}

class CpuGenerator final : public Generator {
 public:
  explicit CpuGenerator(uint64_t seed) : engine_(uint32_t(seed & 0xffffffffu)) {}
  GeneratorKind kind() const override { return GeneratorKind::CPU; }

  Tensor randn(const Shape& shape, Device device) override {
    std::vector<float> values(size_t(shape_numel(shape)));
    if (values.size() >= 16) {
      normal_fill(values);
    } else {
      for (float& v : values) v = float(next_double_normal());
    }
    return Tensor::from_floats(values, shape).to(device);
  }

 private:
  // at::uniform_real_distribution<float>(0, 1): 24 random bits scaled by 2^-24 (exact in float).
  float next_float_uniform() { return float(engine_.next_u32() & 0xffffffu) * (1.0f / 16777216.0f); }
  // at::uniform_real_distribution<double>(0, 1): 53 random bits of a 64-bit draw.
  double next_double_uniform() {
    return double(engine_.next_u64() & ((uint64_t(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
  }

  double next_double_normal() {
    if (cached_normal_) {
      const double cached = *cached_normal_;
      cached_normal_.reset();
      return cached;
    }
    const double u1 = next_double_uniform();
    const double u2 = next_double_uniform();
    const double r = std::sqrt(-2.0 * std::log1p(-u2));
    const double theta = 2.0 * std::numbers::pi * u1;
    cached_normal_ = r * std::sin(theta);
    return r * std::cos(theta);
  }

  // Box-Muller over one block of 16 uniforms, as torch's AVX2 kernel (normal_fill_16_AVX2) computes it in float.
  static void normal_fill_16(float* data) {
    const float two_pi = float(2.0 * std::numbers::pi);
    for (int j = 0; j < 8; ++j) {
      const float u1 = 1.0f - data[j];  // [0, 1) -> (0, 1] for log
      const float radius = std::sqrt(-2.0f * cephes_logf(u1));
      const float theta = two_pi * data[j + 8];
      float sin_theta, cos_theta;
      cephes_sincosf(theta, &sin_theta, &cos_theta);
      data[j] = radius * cos_theta;
      data[j + 8] = radius * sin_theta;
    }
  }

  void normal_fill(std::vector<float>& data) {
    const size_t n = data.size();
    for (float& v : data) v = next_float_uniform();
    for (size_t i = 0; i + 16 <= n; i += 16) normal_fill_16(data.data() + i);
    if (n % 16 != 0) {
      float* tail = data.data() + n - 16;
      for (int i = 0; i < 16; ++i) tail[i] = next_float_uniform();
      normal_fill_16(tail);
    }
  }

  Mt19937 engine_;
  std::optional<double> cached_normal_;
};

}  // namespace

std::unique_ptr<Generator> make_cpu_generator(uint64_t seed) { return std::make_unique<CpuGenerator>(seed); }

}  // namespace sdpp
