// Device-side helpers shared by the kernels: f32 loads/stores from runtime-typed pointers, activations, launch sizes.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "backend/cuda/fast_gelu.h"
#include "core/dtype.h"

namespace sdpp::cuda {

__device__ __forceinline__ float load_f32(const void* p, DType t, int64_t i) {
  if (t == DType::F16) return __half2float(static_cast<const __half*>(p)[i]);
  if (t == DType::BF16) return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  return static_cast<const float*>(p)[i];
}

__device__ __forceinline__ void store_f32(void* p, DType t, int64_t i, float v) {
  if (t == DType::F16) {
    static_cast<__half*>(p)[i] = __float2half_rn(v);
  } else if (t == DType::BF16) {
    static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
  } else {
    static_cast<float*>(p)[i] = v;
  }
}

// Typed conversions for templated kernels.
template <class T> __device__ __forceinline__ float to_f32(T v);
template <> __device__ __forceinline__ float to_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f32<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// x[c] of one sample (xn) plus an added term's value there (an: that sample's row of the term, or null): what the
// group norms normalise, a resnet's time embedding added as x is read.
template <class T>
__device__ __forceinline__ float value_plus_added(const T* xn, const T* an, int c) {
  return to_f32(xn[c]) + (an ? to_f32(an[c]) : 0.0f);
}

// Codes match ops::Activation: None, SiLU, GELU (erf), GELUTanh, QuickGELU, ReLU, Tanh. Full-precision expf/erff so
// f32 results match the cpu reference closely.
__device__ __forceinline__ float activate(float x, int act) {
  switch (act) {
    case 1: return x / (1.0f + expf(-x));
    case 2: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case 3: return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case 4: return x / (1.0f + expf(-1.702f * x));
    case 5: return fmaxf(x, 0.0f);
    case 6: return tanhf(x);
    default: return x;
  }
}

// activate() for a result stored as T: where T is a 16-bit type, SiLU takes the fast exponential and reciprocal
// (about 2 ulp of f32, far below f16/bf16 rounding) instead of expf and an IEEE division, whose instructions bound
// the group norms that end in it, and GELU the branch-free erfc fit of fast_gelu.h instead of erff. f32 results keep
// activate().
template <class T>
__device__ __forceinline__ float activate_stored(float x, int act) {
  if constexpr (sizeof(T) == 2) {
    if (act == 1) return x * __frcp_rn(1.0f + __expf(-x));
    if (act == 2) return gelu_erfc_fit(x);
  }
  return activate(x, act);
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// The DType a kernel's element type T stores.
template <class T>
constexpr DType dtype_of() {
  return sizeof(T) == 4 ? DType::F32 : std::is_same_v<T, __half> ? DType::F16 : DType::BF16;
}

// Whether a norm's gamma and beta can be read as 16-byte vectors of T: stored as T and 16-byte aligned.
template <class T>
bool affine_as_vectors(const void* gamma, DType gamma_type, const void* beta, DType beta_type) {
  return gamma_type == dtype_of<T>() && beta_type == dtype_of<T>() && aligned16(gamma) && aligned16(beta);
}

// Grid for a grid-stride loop over n elements.
inline unsigned blocks_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  if (b > 65535LL * 16) b = 65535LL * 16;
  return unsigned(b < 1 ? 1 : b);
}

}  // namespace sdpp::cuda
