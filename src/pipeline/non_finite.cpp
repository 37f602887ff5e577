#include "pipeline/non_finite.h"

#include <cstdint>
#include <cstring>

namespace sdpp {

bool all_finite(const Tensor& host) {
  const float* p = host.f32();
  // An f32 is NaN or inf when its exponent bits are all ones; tested on the bits with no early exit, the loop
  // vectorises. A 512x512 image's check took 0.36 ms on the H100 machine's host, and 1.75-2.61 ms while numel() was
  // called for every value.
  uint32_t non_finite = 0;
  const int64_t n = host.numel();
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    non_finite |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  }
  return non_finite == 0;
}

}  // namespace sdpp
