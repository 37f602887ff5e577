// The cpu backend's vectorisable exp / normal CDF against the C library in double.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/cpu/cpu_math.h"

namespace sdpp::cpu {
namespace {

TEST(CpuMath, ExpWithinOneUlpOverItsRange) {
  double worst = 0.0;
  for (float x = -87.0f; x < 88.3f; x += 0.000731f) {
    const double e = std::exp(double(x));
    worst = std::max(worst, std::abs(double(exp_approx(x)) - e) / e);
  }
  EXPECT_LT(worst, 1.2e-7);  // one f32 ulp relative
  EXPECT_EQ(exp_approx(0.0f), 1.0f);
}

TEST(CpuMath, ExpSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(exp_approx(-inf), 0.0f);
  EXPECT_EQ(exp_approx(-100.0f), 0.0f);
  EXPECT_EQ(exp_approx(inf), inf);
  EXPECT_EQ(exp_approx(100.0f), inf);
  EXPECT_TRUE(std::isnan(exp_approx(std::nanf(""))));
  EXPECT_TRUE(std::isfinite(exp_approx(88.3f)));
}

TEST(CpuMath, NormalCdfWithinAbramowitzStegunBound) {
  double worst = 0.0;
  for (float x = -12.0f; x < 12.0f; x += 0.00037f) {
    const double ref = 0.5 * std::erfc(-double(x) / std::sqrt(2.0));
    worst = std::max(worst, std::abs(double(normal_cdf_approx(x)) - ref));
  }
  EXPECT_LT(worst, 3e-7);  // 1.5e-7 from the approximation plus f32 rounding
  EXPECT_EQ(normal_cdf_approx(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(normal_cdf_approx(std::numeric_limits<float>::infinity()), 1.0f);
}

}  // namespace
}  // namespace sdpp::cpu
