// FastDivider (the element-wise kernels' index division) against `/` and `%`, on the host: the same code runs on the
// device with __umulhi in place of the 64-bit product.
#ifdef SDPP_WITH_CUDA
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "backend/cuda/fast_divider.h"

namespace sdpp {
namespace {

void expect_divides(const cuda::FastDivider& d, uint32_t n) {
  const uint32_t divisor = d.divisor();
  ASSERT_EQ(d.div(n), n / divisor) << n << " / " << divisor;
  ASSERT_EQ(d.mod(n), n % divisor) << n << " % " << divisor;
}

TEST(FastDivider, MatchesDivisionOnEdgesAndRandomNumerators) {
  std::vector<uint32_t> divisors = {1, 2, 3, 5, 7, 40, 64, 80, 120, 320, 641, 4096, 65535, 65536, 65537,
                                    (1u << 31) - 1, 1u << 31, (1u << 31) + 1, 0xfffffffeu, 0xffffffffu};
  std::mt19937 rng(1234);
  for (int i = 0; i < 200; ++i) divisors.push_back(rng() >> (rng() % 32));
  for (uint32_t divisor : divisors) {
    if (divisor == 0) continue;
    SCOPED_TRACE(divisor);
    const cuda::FastDivider d(divisor);
    // Around multiples of the divisor, where a rounding error of the multiplier would show first, and at the ends.
    for (uint32_t q : {0u, 1u, 2u, 3u, 1000u, 0xffffffffu / divisor - 1, 0xffffffffu / divisor}) {
      const uint64_t base = uint64_t(q) * divisor;
      for (int64_t off = -2; off <= 2; ++off) {
        const int64_t n = int64_t(base) + off;
        if (n >= 0 && n <= int64_t(0xffffffffu)) expect_divides(d, uint32_t(n));
      }
    }
    for (uint32_t n : {0u, 1u, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu}) expect_divides(d, n);
    for (int i = 0; i < 2000; ++i) expect_divides(d, uint32_t(rng()));
  }
}

TEST(FastDivider, ZeroDivisorIsTreatedAsOne) {
  const cuda::FastDivider d(0);
  EXPECT_EQ(d.divisor(), 1u);
  EXPECT_EQ(d.div(77), 77u);
}

}  // namespace
}  // namespace sdpp
#endif  // SDPP_WITH_CUDA
