// Memory, conversion and elementwise ops of the CUDA backend against the cpu backend.
#include <bit>
#include <cmath>
#include <limits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda_test_util.h"

namespace sdpp {
namespace {

using cuda_test::Inputs;
using cuda_test::tolerance;

TEST(CudaMemory, HostRoundTripIsExact) {
  SDPP_REQUIRE_CUDA();
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    Inputs in(dtype);
    SCOPED_TRACE("seed " + std::to_string(in.seed()));
    const Tensor host = in.host({3, 5, 7}).to(dtype);
    const Tensor back = host.to(Device::cuda()).to(Device::cpu());
    ASSERT_EQ(back.dtype(), dtype);
    EXPECT_EQ(std::memcmp(back.raw(), host.raw(), host.nbytes()), 0) << dtype_name(dtype);
  }
}

TEST(CudaMemory, ConvertMatchesCpuBitForBit) {
  SDPP_REQUIRE_CUDA();
  Inputs in(DType::F32);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  // Wide range so f16 overflow/subnormals and bf16 rounding are all exercised.
  Tensor src = in.host({4099}, -70000.0f, 70000.0f);
  src = ops::mul(src, in.host({4099}, -1.0f, 1.0f));
  for (DType from : {DType::F32, DType::F16, DType::BF16}) {
    for (DType to : {DType::F32, DType::F16, DType::BF16}) {
      const Tensor host_from = src.to(from);
      const Tensor expected = host_from.to(to);
      const Tensor got = host_from.to(Device::cuda()).to(to).to(Device::cpu());
      EXPECT_EQ(std::memcmp(got.raw(), expected.raw(), expected.nbytes()), 0)
          << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
}

TEST(CudaMemory, ConvertMatchesCpuBitForBitOverEveryExponent) {
  // Every f32 exponent with several mantissas, both signs: f16's subnormals, the values that round to zero (the
  // host's float_to_half once made garbage of those between 2^-38 and 2^-32), overflow to inf, bf16 ties.
  SDPP_REQUIRE_CUDA();
  std::vector<float> values;
  for (uint32_t sign = 0; sign < 2; ++sign)
    for (uint32_t exponent = 0; exponent < 255; ++exponent)
      for (uint32_t mantissa : {0u, 1u, 0x0fffu, 0x1000u, 0x1001u, 0x8000u, 0x18000u, 0x400000u, 0x7fffffu})
        values.push_back(std::bit_cast<float>(sign << 31 | exponent << 23 | mantissa));
  const Tensor src = Tensor::from_floats(values, {int64_t(values.size())});
  for (DType to : {DType::F16, DType::BF16}) {
    const Tensor expected = src.to(to);
    const Tensor got = src.to(Device::cuda()).to(to).to(Device::cpu());
    EXPECT_EQ(std::memcmp(got.raw(), expected.raw(), expected.nbytes()), 0) << "F32 -> " << dtype_name(to);
  }
}

TEST(CudaMemory, ZerosAndCloneAreWritten) {
  SDPP_REQUIRE_CUDA();
  const Tensor z = Tensor::zeros({1000, 3}, DType::F16, Device::cuda());
  for (float v : z.to_floats()) ASSERT_EQ(v, 0.0f);
  Inputs in(DType::BF16);
  const Tensor host = in.host({17, 9});
  const Tensor copy = in.device(host).clone();
  EXPECT_EQ(cuda_test::rel_l2(copy, host), 0.0);
}

class CudaElementwise : public testing::TestWithParam<DType> {};

TEST_P(CudaElementwise, AddAndMulWithEachBroadcast) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  // Odd sizes take the scalar kernel, multiples of 8 the 16-byte one.
  for (const Shape& shape : {Shape{2, 5, 7, 3}, Shape{2, 16, 4, 8}}) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor a = in.host(shape);
    const Tensor same = in.host(shape), per_plane = in.host({shape[0], shape[1]}), per_last = in.host({shape[3]});
    for (const Tensor* b : {&same, &per_plane, &per_last}) {
      SDPP_EXPECT_CLOSE(ops::add(in.device(a), in.device(*b)), ops::add(a, *b), tolerance(GetParam()));
      SDPP_EXPECT_CLOSE(ops::mul(in.device(a), in.device(*b)), ops::mul(a, *b), tolerance(GetParam()));
    }
    EXPECT_THROW(ops::add(in.device(a), in.device(in.host({5}))), Error);
  }
}

TEST_P(CudaElementwise, UnaryOps) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const Tensor x = in.host({3, 1001}, -4.0f, 4.0f);
  const Tensor dx = in.device(x);
  const double tol = tolerance(GetParam());
  SDPP_EXPECT_CLOSE(ops::scale(dx, 0.18215f, -0.5f), ops::scale(x, 0.18215f, -0.5f), tol);
  SDPP_EXPECT_CLOSE(ops::clamp(dx, -1.5f, 2.0f), ops::clamp(x, -1.5f, 2.0f), tol);
  SDPP_EXPECT_CLOSE(ops::exp(dx), ops::exp(x), tolerance(GetParam(), true));
  EXPECT_THROW(ops::clamp(dx, 1.0f, -1.0f), Error);
  // NaN passes through clamp as on the cpu (and in torch), so a NaN image is seen rather than turned black.
  const std::vector<float> special = {std::nanf(""), std::numeric_limits<float>::infinity(), -3.0f};
  const std::vector<float> clamped =
      ops::clamp(in.device(Tensor::from_floats(special, {3})), 0.0f, 1.0f).to_floats();
  EXPECT_TRUE(std::isnan(clamped[0]));
  EXPECT_EQ(clamped[1], 1.0f);
  EXPECT_EQ(clamped[2], 0.0f);
  for (ops::Activation act : {ops::Activation::SiLU, ops::Activation::GELU, ops::Activation::GELUTanh,
                              ops::Activation::QuickGELU, ops::Activation::ReLU, ops::Activation::Tanh}) {
    SCOPED_TRACE("activation " + std::to_string(int(act)));
    SDPP_EXPECT_CLOSE(ops::activation(dx, act), ops::activation(x, act), tolerance(GetParam(), true));
  }
}

TEST_P(CudaElementwise, Geglu) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (const Shape& shape : {Shape{2, 13, 2 * 37}, Shape{3, 5, 2 * 64}}) {
    const Tensor x = in.host(shape, -3.0f, 3.0f);
    SDPP_EXPECT_CLOSE(ops::geglu(in.device(x)), ops::geglu(x), tolerance(GetParam(), true));
  }
}

TEST_P(CudaElementwise, LincombShortAndLong) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (size_t count : {size_t(1), size_t(3), size_t(11), size_t(19)}) {  // 19 > one kernel's 16 inputs
    std::vector<Tensor> host, dev;
    std::vector<double> coeffs;
    for (size_t i = 0; i < count; ++i) {
      host.push_back(in.host({2, 4, 9, 5}));
      dev.push_back(in.device(host.back()));
      coeffs.push_back(0.37 * double(i) - 1.1);
    }
    SDPP_EXPECT_CLOSE(ops::lincomb(dev, coeffs), ops::lincomb(host, coeffs), tolerance(GetParam(), true));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaElementwise, testing::Values(DType::F32, DType::F16, DType::BF16),
                         cuda_test::dtype_param_name);

}  // namespace
}  // namespace sdpp
