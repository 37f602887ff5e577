// Tensor basics (views, copies, dtype conversion) and the f16/bf16 rounding rules.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>

#include "core/error.h"
#include "core/tensor.h"

namespace sdpp {
namespace {

TEST(Tensor, ShapeAndReshapeShareStorage) {
  Tensor t = Tensor::from_floats(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  EXPECT_EQ(t.ndim(), 2);
  EXPECT_EQ(t.dim(-1), 3);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_EQ(shape_str(t.shape()), "[2, 3]");
  Tensor r = t.reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  r.f32()[5] = 42.0f;
  EXPECT_EQ(t.f32()[5], 42.0f);  // a view, not a copy
  EXPECT_THROW(t.reshape({4, 2}), Error);
  EXPECT_THROW(t.reshape({-1, -1}), Error);
  EXPECT_THROW(t.dim(2), Error);
}

TEST(Tensor, Narrow0IsAView) {
  Tensor t = Tensor::from_floats(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}, {4, 2});
  Tensor n = t.narrow0(1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 2}));
  EXPECT_EQ(n.f32()[0], 2.0f);
  EXPECT_EQ(n.f32()[3], 5.0f);
  n.f32()[0] = -1.0f;
  EXPECT_EQ(t.f32()[2], -1.0f);
  EXPECT_THROW(t.narrow0(3, 2), Error);
  EXPECT_THROW(t.narrow0(-1, 1), Error);
}

TEST(Tensor, CloneIsDeep) {
  Tensor t = Tensor::full({3}, 1.5f);
  Tensor c = t.clone();
  c.f32()[0] = 0.0f;
  EXPECT_EQ(t.f32()[0], 1.5f);
  EXPECT_EQ(c.f32()[1], 1.5f);
}

TEST(Tensor, ZerosAndAlignment) {
  Tensor z = Tensor::zeros({5, 7});
  for (int i = 0; i < 35; ++i) EXPECT_EQ(z.f32()[i], 0.0f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(z.raw()) % 64, 0u);
  Tensor empty = Tensor::empty({0, 3});
  EXPECT_TRUE(empty.defined());
  EXPECT_EQ(empty.numel(), 0);
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor ids = Tensor::from_ints(std::vector<int64_t>{1, 2}, {2});
  EXPECT_EQ(ids.i64()[1], 2);
  EXPECT_THROW(ids.f32(), Error);
  EXPECT_THROW(Tensor::full({1}, 0.0f).i64(), Error);
}

TEST(Tensor, HugeAllocationThrowsOutOfMemory) {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer aborts on a failed allocation unless told to return null like malloc does.
  const char* asan = std::getenv("ASAN_OPTIONS");
  if (!asan || !std::strstr(asan, "allocator_may_return_null=1"))
    GTEST_SKIP() << "needs ASAN_OPTIONS=allocator_may_return_null=1";
#endif
  try {
    Tensor::empty({int64_t(1) << 58}, DType::F32);  // 1 EiB: beyond any address space
    FAIL() << "expected OutOfMemory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::OutOfMemory);
    EXPECT_NE(std::string(e.what()).find("1152921504606846976"), std::string::npos) << e.what();
  }
}

TEST(DType, HalfExactValuesAndRounding) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);  // largest half
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);  // rounds to inf (halfway above max)
  EXPECT_EQ(float_to_half(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0); 1 + 3*2^-11 ties up to 1 + 2^-9.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  // Subnormals: smallest positive half is 2^-24; 2^-25 is a tie to even (0), just above it rounds up.
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 * 2^-24 ties to even (2)
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(float_to_half(std::ldexp(1023.0f, -24)), 0x03ff);
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14)), 0x0400);
  // Just below the smallest normal rounds up into it.
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), 0x0400);
}

TEST(DType, HalfRoundTripsEveryValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
  }
}

// Round to nearest even by exact double arithmetic: the reference float_to_half is checked against.
uint16_t reference_half(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(double(f));
  if (a >= 65520.0) return sign | 0x7c00;  // halfway above the largest half and beyond
  if (a < std::ldexp(1.0, -14)) return sign | uint16_t(std::nearbyint(std::ldexp(a, 24)));  // units of 2^-24
  int e = 0;
  const double m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  // The 10 mantissa bits of 2m - 1, rounded; a carry out of them moves into the exponent as it should.
  return sign | uint16_t(((e - 1 + 15) << 10) + int(std::nearbyint((2 * m - 1) * 1024)));
}

TEST(DType, HalfRoundsFloatsOfEveryExponent) {
  // Every exponent, both signs, with mantissas at and around the rounding boundaries and pseudo-random ones.
  // Values between 2^-38 and 2^-32 once came out as garbage (a shift of 32 bits): GELU's tails land there.
  const uint32_t mantissas[] = {0, 1, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000, 0x7fffff, 0x400000, 0x7fe000};
  uint32_t lcg = 1;
  for (uint32_t sign = 0; sign < 2; ++sign) {
    for (uint32_t exponent = 0; exponent < 255; ++exponent) {
      for (int i = 0; i < 64; ++i) {
        uint32_t mantissa = 0;
        if (i < int(std::size(mantissas))) {
          mantissa = mantissas[i];
        } else {
          lcg = lcg * 1664525u + 1013904223u;
          mantissa = lcg >> 9;
        }
        const float f = std::bit_cast<float>(sign << 31 | exponent << 23 | mantissa);
        ASSERT_EQ(float_to_half(f), reference_half(f))
            << f << " (bits 0x" << std::hex << std::bit_cast<uint32_t>(f) << ")";
      }
    }
  }
  EXPECT_EQ(float_to_half(1.52681e-10f), 0x0000);
  EXPECT_EQ(float_to_half(-std::ldexp(1.0f, -33)), 0x8000);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(DType, ArrayConversionsEqualTheScalarOnes) {
  // Tensor::to on the cpu converts f32 <-> f16 / bf16 with array kernels (F16C where the CPU has it): every half and
  // every bf16 widen as the scalar functions do, and floats of every exponent narrow as they do (NaN stays NaN; only
  // its payload may differ). The float count is not a multiple of 8, so the scalar tails run too.
  Tensor halves = Tensor::empty({65536}, DType::F16);
  Tensor bf16s = Tensor::empty({65536}, DType::BF16);
  for (uint32_t h = 0; h < 65536; ++h) {
    static_cast<uint16_t*>(halves.raw())[h] = uint16_t(h);
    static_cast<uint16_t*>(bf16s.raw())[h] = uint16_t(h);
  }
  const Tensor from_half = halves.to(DType::F32), from_bf16 = bf16s.to(DType::F32);
  for (uint32_t h = 0; h < 65536; ++h) {
    const float hf = from_half.f32()[h], bf = from_bf16.f32()[h];
    if (std::isnan(half_to_float(uint16_t(h)))) {
      ASSERT_TRUE(std::isnan(hf)) << "half 0x" << std::hex << h;
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(hf), std::bit_cast<uint32_t>(half_to_float(uint16_t(h))))
          << "half 0x" << std::hex << h;
    }
    ASSERT_EQ(std::bit_cast<uint32_t>(bf), std::bit_cast<uint32_t>(bf16_to_float(uint16_t(h))))
        << "bf16 0x" << std::hex << h;
  }
  std::vector<float> floats;
  uint32_t lcg = 7;
  for (uint32_t sign = 0; sign < 2; ++sign)
    for (uint32_t exponent = 0; exponent < 256; ++exponent)
      for (int i = 0; i < 37; ++i) {
        lcg = lcg * 1664525u + 1013904223u;
        const uint32_t mantissa = i == 0 ? 0u : i == 1 ? 0x1000u : i == 2 ? 0x8000u : lcg >> 9;
        floats.push_back(std::bit_cast<float>(sign << 31 | exponent << 23 | mantissa));
      }
  floats.push_back(1.52681e-10f);
  const Tensor source = Tensor::from_floats(floats, {int64_t(floats.size())});
  const Tensor to_half = source.to(DType::F16), to_bf16 = source.to(DType::BF16);
  for (size_t i = 0; i < floats.size(); ++i) {
    const uint16_t hb = static_cast<const uint16_t*>(to_half.raw())[i];
    const uint16_t bb = static_cast<const uint16_t*>(to_bf16.raw())[i];
    if (std::isnan(floats[i])) {
      ASSERT_TRUE(std::isnan(half_to_float(hb)) && std::isnan(bf16_to_float(bb))) << i;
    } else {
      ASSERT_EQ(hb, float_to_half(floats[i])) << floats[i];
      ASSERT_EQ(bb, float_to_bf16(floats[i])) << floats[i];
    }
  }
}

TEST(DType, BFloat16Rounding) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even.
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
}

TEST(DType, ParseNames) {
  DType d;
  ASSERT_TRUE(parse_dtype("BF16", &d));
  EXPECT_EQ(d, DType::BF16);
  ASSERT_TRUE(parse_dtype("fp16", &d));
  EXPECT_EQ(d, DType::F16);
  EXPECT_FALSE(parse_dtype("F8", &d));
  EXPECT_STREQ(dtype_name(DType::I64), "I64");
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
}

TEST(Tensor, ConvertBetweenDtypes) {
  const std::vector<float> v{0.0f, -1.5f, 3.14159f, 65504.0f, 1e-6f, -7.9f};
  Tensor f = Tensor::from_floats(v, {2, 3});
  Tensor h = f.to(DType::F16);
  EXPECT_EQ(h.dtype(), DType::F16);
  EXPECT_EQ(h.shape(), f.shape());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(h.data<uint16_t>()[i], float_to_half(v[i]));
  Tensor back = h.to(DType::F32);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(back.f32()[i], half_to_float(float_to_half(v[i])));
  Tensor b = f.to(DType::BF16);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(b.data<uint16_t>()[i], float_to_bf16(v[i]));
  // bf16 -> f16 goes through the exact float value.
  Tensor bh = b.to(DType::F16);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(bh.data<uint16_t>()[i], float_to_half(bf16_to_float(float_to_bf16(v[i]))));
  Tensor d = f.to(DType::F64);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(d.data<double>()[i], double(v[i]));
  EXPECT_EQ(d.to(DType::F32).to_floats(), v);
  // Floats to integers truncate toward zero, as torch's .to(torch.int64).
  Tensor ids = f.to(DType::I64);
  const std::vector<int64_t> expect_ids{0, -1, 3, 65504, 0, -7};
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(ids.i64()[i], expect_ids[i]);
  Tensor from_ids = Tensor::from_ints(std::vector<int64_t>{49407, -3}, {2}).to(DType::F32);
  EXPECT_EQ(from_ids.f32()[0], 49407.0f);
  EXPECT_EQ(from_ids.f32()[1], -3.0f);
  EXPECT_THROW(f.to(DType::U8), Error);
}

TEST(Tensor, ConvertLargeTensorInParallel) {
  std::vector<float> v(300000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i) * 0.37f - 5000.0f;
  Tensor h = Tensor::from_floats(v, {int64_t(v.size())}).to(DType::F16);
  for (size_t i = 0; i < v.size(); i += 997) ASSERT_EQ(h.data<uint16_t>()[i], float_to_half(v[i]));
  EXPECT_EQ(h.data<uint16_t>()[v.size() - 1], float_to_half(v.back()));
}

TEST(Tensor, ToSameDeviceAndCpuF32) {
  Tensor t = Tensor::full({2}, 2.0f);
  Tensor same = t.to(Device::cpu());
  EXPECT_EQ(same.raw(), t.raw());
  EXPECT_EQ(t.to(DType::BF16).cpu_f32().to_floats(), (std::vector<float>{2.0f, 2.0f}));
}

}  // namespace
}  // namespace sdpp

namespace sdpp {
namespace {

TEST(Tensor, ShapeWhoseSizeOverflowsThrows) {
  try {
    Tensor::empty({int64_t(1) << 40, int64_t(1) << 40});
    FAIL() << "expected OutOfMemory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::OutOfMemory);
  }
}

}  // namespace
}  // namespace sdpp
