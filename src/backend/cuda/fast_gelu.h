// GELU (the erf form, diffusers' GEGLU gate) for results stored as f16 or bf16, without erff.
//
// gelu(x) = x Phi(x) = 0.5 x erfc(-x / sqrt 2), with erfc(z) for z >= 0 from the Chebyshev fit of Numerical Recipes
// (erfcc: t exp(-z^2 + P(t)), t = 1 / (1 + z / 2), fractional error below 1.2e-7 everywhere) and erfc(-z) = 2 -
// erfc(z). On the device it takes the fast reciprocal and exponential: no branch, two MUFU operations and about a
// dozen FMAs. erff picks a polynomial or an exponential path by |x| (about 30 instructions, both run where a warp's
// values straddle the switch), which left the GEGLU kernels issuing more instructions than their loads needed. The
// relative error, about 1e-6 with the fast intrinsics, is far below f16 (4.9e-4) or bf16 (3.9e-3) rounding; f32
// results keep erff (device_util.cuh's activate) to match the cpu backend closely.
// Host-compilable (exact exponential and division there), so the device-free tests check the fit.
#pragma once
#include <math.h>

#if defined(__CUDACC__)
#define SDPP_FAST_GELU_HD __host__ __device__ __forceinline__
#else
#define SDPP_FAST_GELU_HD inline
#endif

namespace sdpp::cuda {

SDPP_FAST_GELU_HD float gelu_erfc_fit(float x) {
  const float z = fabsf(x) * 0.70710678118654752f;
#if defined(__CUDA_ARCH__)
  const float t = __fdividef(1.0f, fmaf(0.5f, z, 1.0f));
#else
  const float t = 1.0f / fmaf(0.5f, z, 1.0f);
#endif
  float p = 0.17087277f;
  p = fmaf(p, t, -0.82215223f);
  p = fmaf(p, t, 1.48851587f);
  p = fmaf(p, t, -1.13520398f);
  p = fmaf(p, t, 0.27886807f);
  p = fmaf(p, t, -0.18628806f);
  p = fmaf(p, t, 0.09678418f);
  p = fmaf(p, t, 0.37409196f);
  p = fmaf(p, t, 1.00002368f);
  p = fmaf(p, t, -1.26551223f);
#if defined(__CUDA_ARCH__)
  const float e = t * __expf(fmaf(-z, z, p));  // erfc(z)
#else
  const float e = t * expf(fmaf(-z, z, p));
#endif
  // -x / sqrt 2 is z where x <= 0 and -z where x > 0.
  return 0.5f * x * (x > 0.0f ? 2.0f - e : e);
}

}  // namespace sdpp::cuda
