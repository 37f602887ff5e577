#include "backend/cpu/cpu_half.h"

#include "core/dtype.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SDPP_HAVE_F16C_PATH 1
#endif

namespace sdpp::cpu {
namespace {

#ifdef SDPP_HAVE_F16C_PATH
// The build targets baseline x86-64; F16C (every x86-64 CPU since 2012) is checked once at run time.
bool has_f16c() {
  static const bool yes = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
  return yes;
}

__attribute__((target("avx,f16c"))) int64_t f16_to_f32_f16c(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  return i;
}

__attribute__((target("avx,f16c"))) int64_t f32_to_f16_f16c(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  return i;
}
#else
bool has_f16c() { return false; }
int64_t f16_to_f32_f16c(const uint16_t*, float*, int64_t) { return 0; }
int64_t f32_to_f16_f16c(const float*, uint16_t*, int64_t) { return 0; }
#endif

// The F16C kernel over as many values as it takes (none without F16C), the scalar function after.
template <class S, class D, int64_t (*Fast)(const S*, D*, int64_t), D (*Scalar)(S)>
void convert_array(const S* src, D* dst, int64_t n) {
  for (int64_t i = has_f16c() ? Fast(src, dst, n) : 0; i < n; ++i) dst[i] = Scalar(src[i]);
}

}  // namespace

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  convert_array<uint16_t, float, f16_to_f32_f16c, half_to_float>(src, dst, n);
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  convert_array<float, uint16_t, f32_to_f16_f16c, float_to_half>(src, dst, n);
}

// bf16 is the top half of an f32: plain loops the compiler vectorises.
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_float(src[i]);
}

void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = float_to_bf16(src[i]);
}

}  // namespace sdpp::cpu
