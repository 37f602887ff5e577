// Division of 32-bit unsigned indices by a divisor fixed at launch, as a multiply-high, an add and two shifts
// (Granlund & Montgomery, "Division by invariant integers using multiplication", 1994, figure 4.1). Element-wise
// kernels that turn a flat index into (row, column) or (pixel, channel) pay for a hardware-less division on every
// element otherwise: about 20 instructions in 32 bits, several times that in 64, against a handful of loads.
// Host-compilable, so the device-free tests check it against `/` and `%`.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define SDPP_HOST_DEVICE __host__ __device__
#else
#define SDPP_HOST_DEVICE
#endif

namespace sdpp::cuda {

class FastDivider {
 public:
  FastDivider() = default;
  explicit FastDivider(uint32_t divisor) : divisor_(divisor ? divisor : 1) {
    int bits = 0;  // ceil(log2(divisor))
    while ((uint64_t(1) << bits) < divisor_) ++bits;
    // m = floor(2^32 (2^bits - d) / d) + 1 fits 32 bits, since 2^bits - d < d.
    multiplier_ = uint32_t(((uint64_t(1) << 32) * ((uint64_t(1) << bits) - divisor_)) / divisor_ + 1);
    shift1_ = bits < 1 ? bits : 1;
    shift2_ = bits > 0 ? bits - 1 : 0;
  }

  SDPP_HOST_DEVICE uint32_t divisor() const { return divisor_; }
  SDPP_HOST_DEVICE uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    const uint32_t t = __umulhi(multiplier_, n);
#else
    const uint32_t t = uint32_t((uint64_t(multiplier_) * n) >> 32);
#endif
    return (t + ((n - t) >> shift1_)) >> shift2_;
  }
  SDPP_HOST_DEVICE uint32_t mod(uint32_t n) const { return n - div(n) * divisor_; }

 private:
  uint32_t divisor_ = 1, multiplier_ = 1, shift1_ = 0, shift2_ = 0;
};

// The same interface over plain division, for kernels templated on their index width: 64-bit indices divide as usual.
class PlainDivider64 {
 public:
  PlainDivider64() = default;
  explicit PlainDivider64(int64_t divisor) : divisor_(divisor ? divisor : 1) {}
  SDPP_HOST_DEVICE int64_t divisor() const { return divisor_; }
  SDPP_HOST_DEVICE int64_t div(int64_t n) const { return n / divisor_; }
  SDPP_HOST_DEVICE int64_t mod(int64_t n) const { return n % divisor_; }

 private:
  int64_t divisor_ = 1;
};

}  // namespace sdpp::cuda
