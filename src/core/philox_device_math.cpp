#include "core/philox_device_math.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace sdpp::philox {
namespace {

float from_bits(uint32_t bits) { return std::bit_cast<float>(bits); }

// a * b rounded toward zero, as FMUL.RZ: the double product of two floats is exact, so only the narrowing rounds.
float fmul_rz(float a, float b) {
  const double exact = double(a) * double(b);
  float rounded = float(exact);
  if (std::fabs(double(rounded)) > std::fabs(exact)) rounded = std::nextafter(rounded, 0.0f);
  return rounded;
}

}  // namespace

float device_logf(float u) {
  // u = 2^e * m with m in [2/3, 4/3): the exponent split at 0x3F2AAAAB (2/3) keeps |m - 1| <= 1/3.
  const int32_t bits = std::bit_cast<int32_t>(u);
  const int32_t exponent_bits = int32_t(uint32_t(bits - 0x3F2AAAAB) & 0xFF800000u);
  const float m = std::bit_cast<float>(bits - exponent_bits);
  const float e = std::fma(float(exponent_bits), from_bits(0x34000000u), 0.0f);  // * 2^-23
  const float f = m - 1.0f;
  // log(1 + f) = f - f^2/2 + ...: the degree-9 tail in Horner form with fused multiply-adds, as the GPU runs it.
  float p = std::fma(from_bits(0xBE055027u), f, from_bits(0x3E1039F6u));
  for (uint32_t c : {0xBDF8CDCCu, 0x3E0F2955u, 0xBE2AD8B9u, 0x3E4CED0Bu, 0xBE7FFF22u, 0x3EAAAA78u, 0xBF000000u})
    p = std::fma(p, f, from_bits(c));
  const float tail = f * p;
  const float log_m = std::fma(tail, f, f);
  return std::fma(e, from_bits(0x3F317218u), log_m);  // + e * ln 2
}

float device_sinf(float v) {
  constexpr int kCellBits = 25, kQuadrantBits = 23, kSegmentBits = 17;
  constexpr uint32_t kQuadrantMask = (1u << kQuadrantBits) - 1, kSegmentMask = (1u << kSegmentBits) - 1;
  const float revolutions = fmul_rz(v, from_bits(0x3E22F983u));  // 1/2pi, as ptxas emits it
  const uint32_t cell =
      uint32_t(uint64_t(std::ldexp(double(revolutions), kCellBits)) & ((1u << kCellBits) - 1));
  const uint32_t quadrant = cell >> kQuadrantBits;
  uint32_t j = cell & kQuadrantMask;
  if (quadrant & 1) j = kQuadrantMask - j;  // sin(pi - x) mirrors the cell index bitwise
  const double* c = kMufuSinSegments[j >> kSegmentBits];
  const double x = double(j & kSegmentMask) - double(kSegmentMask) / 2;
  const float g = float(std::fma(x, std::fma(x, c[2], c[1]), c[0]));
  return (quadrant & 2) ? -g : g;
}

// The uniforms are centred in their 2^-32 bins (so log never sees 0), each one fused multiply-add as nvcc emits it.
float box_muller_first(uint32_t x, uint32_t y) {
  constexpr float kInv32 = 2.3283064e-10f;                    // CURAND_2POW32_INV (exactly 2^-32)
  constexpr float kInv32TwoPi = 2.3283064e-10f * 6.2831855f;  // CURAND_2POW32_INV_2PI
  const float u = std::fma(float(x), kInv32, kInv32 / 2.0f);
  const float v = std::fma(float(y), kInv32TwoPi, kInv32TwoPi / 2.0f);
  const float radius = std::sqrt(-2.0f * device_logf(u));
  return device_sinf(v) * radius;
}

}  // namespace sdpp::philox
