// The fit behind the GEGLU kernels' GELU for 16-bit results (fast_gelu.h), on the host: against erf in double, and
// at its ends.
#ifdef SDPP_WITH_CUDA
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cuda/fast_gelu.h"

namespace sdpp {
namespace {

double gelu(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }

// Relative to erf in double: within 4e-6 down to x = -6 (gelu -6e-9, below f16's smallest value), and within 2e-5 down
// to -11.5 (gelu 1e-29, in bf16's range), where f32's rounding of the exponent's argument x^2 / 2 (up to 66) moves the
// result by about 1e-7 of itself per unit; both far below f16 (4.9e-4) and bf16 (3.9e-3) rounding. (The erff form,
// 1 + erf(x / sqrt 2) in f32, cancels there: 1e-3 of itself at x = -4, all of it below -5.5.)
TEST(FastGelu, FitCloseToErfWhereSixteenBitsHoldIt) {
  double worst_near = 0.0, worst_far = 0.0, near_at = 0.0, far_at = 0.0;
  for (int i = -191666; i <= 200000; ++i) {
    const float x = float(i) * 6e-5f;  // [-11.5, 12]
    const double want = gelu(double(x)), got = double(cuda::gelu_erfc_fit(x));
    const double err = want == 0.0 ? std::abs(got) : std::abs(got - want) / std::abs(want);
    if (x >= -6.0f && err > worst_near) worst_near = err, near_at = x;
    if (x < -6.0f && err > worst_far) worst_far = err, far_at = x;
  }
  EXPECT_LT(worst_near, 4e-6) << "at x = " << near_at;
  EXPECT_LT(worst_far, 2e-5) << "at x = " << far_at;
}

TEST(FastGelu, Ends) {
  EXPECT_EQ(cuda::gelu_erfc_fit(0.0f), 0.0f);
  EXPECT_FLOAT_EQ(cuda::gelu_erfc_fit(20.0f), 20.0f);
  EXPECT_FLOAT_EQ(cuda::gelu_erfc_fit(1000.0f), 1000.0f);
  EXPECT_EQ(cuda::gelu_erfc_fit(-20.0f), 0.0f);  // -20 * Phi(-20) is below f32's range: -0 or 0
  EXPECT_EQ(cuda::gelu_erfc_fit(-1000.0f), 0.0f);
  EXPECT_TRUE(std::isnan(cuda::gelu_erfc_fit(NAN)));
}

}  // namespace
}  // namespace sdpp
#endif  // SDPP_WITH_CUDA
