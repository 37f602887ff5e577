// Shared helpers for the CUDA op tests: every op is compared with the cpu backend on fresh random inputs.
// Inputs are drawn in f32, rounded to the storage dtype on the host, and the cpu reference sees those same rounded
// values, so only the GPU computation's own error is measured. Device allocations are poisoned with NaN bytes
// (SDPP_CUDA_POISON=1, set before the backend exists), so an output element a kernel fails to write shows up.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backend/init.h"
#include "backend/ops.h"
#include "core/error.h"
#include "core/tensor.h"

namespace sdpp::cuda_test {

inline bool poison_requested() {
  static const bool set = setenv("SDPP_CUDA_POISON", "1", 0) == 0;
  return set;
}

#define SDPP_REQUIRE_CUDA()                                                     \
  do {                                                                          \
    ::sdpp::cuda_test::poison_requested();                                      \
    if (::sdpp::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible"; \
  } while (0)

// A fresh seed per call (or SDPP_TEST_SEED to replay); tests SCOPED_TRACE it so a failure can be reproduced.
inline uint64_t fresh_seed() {
  if (const char* s = std::getenv("SDPP_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
}

class Inputs {
 public:
  explicit Inputs(DType dtype) : dtype_(dtype), seed_(fresh_seed()), rng_(seed_) {}
  uint64_t seed() const { return seed_; }
  DType dtype() const { return dtype_; }

  // Uniform in [lo, hi), rounded to the test dtype; returned as cpu f32.
  Tensor host(const Shape& shape, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(size_t(shape_numel(shape)));
    for (float& x : v) x = dist(rng_);
    return Tensor::from_floats(v, shape).to(dtype_).to(DType::F32);
  }
  // The same values on the GPU in the test dtype.
  Tensor device(const Tensor& host_f32) const { return host_f32.to(dtype_).to(Device::cuda()); }
  std::mt19937_64& rng() { return rng_; }

 private:
  DType dtype_;
  uint64_t seed_;
  std::mt19937_64 rng_;
};

// ||got - ref|| / ||ref||, infinite when `got` holds a NaN/Inf (an unwritten, poisoned element) or shapes differ.
inline double rel_l2(const Tensor& got, const Tensor& ref) {
  if (got.shape() != ref.shape()) return INFINITY;
  const std::vector<float> g = got.to_floats(), r = ref.to_floats();
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (!std::isfinite(g[i])) return INFINITY;
    const double d = double(g[i]) - double(r[i]);
    num += d * d;
    den += double(r[i]) * double(r[i]);
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

// f32 runs without TF32 anywhere, so only summation order differs from the cpu; f16/bf16 storage rounds results.
inline double tolerance(DType dtype, bool reduction = false) {
  if (dtype == DType::F32) return reduction ? 2e-5 : 1e-6;
  return 1e-2;
}

inline std::string dtype_param_name(const testing::TestParamInfo<DType>& info) { return dtype_name(info.param); }

// A cpu f32 [n, c, h, w] tensor's values in NHWC order, as the tensor [n, h, w, c] (weights [o, c, kh, kw]: KRSC), for
// calling the own kernels directly.
inline Tensor nhwc(const Tensor& nchw) {
  const int64_t n = nchw.dim(0), c = nchw.dim(1), h = nchw.dim(2), w = nchw.dim(3);
  const std::vector<float> v = nchw.to_floats();
  std::vector<float> out(v.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) out[size_t((i * h * w + p) * c + ch)] = v[size_t((i * c + ch) * h * w + p)];
  return Tensor::from_floats(out, {n, h, w, c});
}

}  // namespace sdpp::cuda_test

// SDPP_TEST_VERBOSE=1 also prints every measured error (for the record in docs/PERFORMANCE.md).
#define SDPP_EXPECT_CLOSE(got, ref, tol)                                                             \
  do {                                                                                               \
    const double sdpp_err_ = ::sdpp::cuda_test::rel_l2((got), (ref));                                \
    EXPECT_LE(sdpp_err_, (tol)) << "rel L2 error vs cpu, shape " << ::sdpp::shape_str((ref).shape()); \
    if (std::getenv("SDPP_TEST_VERBOSE"))                                                            \
      std::printf("  rel_l2 %.3g (tol %.0e) %s line %d\n", sdpp_err_, double(tol),                   \
                  ::sdpp::shape_str((ref).shape()).c_str(), __LINE__);                               \
  } while (0)
