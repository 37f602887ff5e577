// Branch-free float maths for the hot pointwise loops (softmax, SiLU, GELU). std::exp/std::erf are library
// calls that stop the compiler from vectorising a loop; these inline versions vectorise and stay within a
// couple of ulp (exp) or 1.5e-7 absolute (erf), i.e. at the level of float rounding.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

// Hot loops are compiled for AVX-512 and AVX2+FMA too and picked at load time, so one binary is fast on any
// x86-64 (the default build targets the baseline ISA).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SDPP_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SDPP_CPU_CLONES
#endif

namespace sdpp::cpu {

// e^x: Cody-Waite reduction x = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r (the classic Cephes
// expf coefficients), and 2^n built in the exponent bits. Underflows to 0 below -87.33 (no subnormals), is inf
// above 88.37, and passes NaN through.
inline float exp_approx(float x) {
  constexpr float kLo = -87.3365447505531f, kHi = 88.3762626647949f;
  constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer kept in the low bits
  float xc = x < kLo ? kLo : x;  // NaN falls through both clamps and is restored at the end
  xc = xc > kHi ? kHi : xc;
  const float t = xc * 1.44269504088896341f + kShifter;
  const float n = t - kShifter;
  const int32_t ni = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kShifter);
  float r = xc - n * 0.693359375f;  // ln2 split in a short high part (exact product) and a correction
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  float result = p * std::bit_cast<float>((ni + 127) << 23);
  result = x < kLo ? 0.0f : result;
  result = x > kHi ? std::numeric_limits<float>::infinity() : result;
  return x != x ? x : result;
}

inline float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2 with erfc from Abramowitz & Stegun 7.1.26 (|error| <=
// 1.5e-7). Using erfc directly for the lower tail avoids the cancellation of 1 + erf(x) there.
inline float normal_cdf_approx(float x) {
  const float z = std::fabs(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float half_erfc = 0.5f * poly * t * exp_approx(-z * z);  // erfc(|x| / sqrt 2) / 2
  return x >= 0.0f ? 1.0f - half_erfc : half_erfc;
}

}  // namespace sdpp::cpu
