// add/mul broadcasts, scale, clamp, exp, lincomb against plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/ops.h"
#include "core/error.h"
#include "op_test_util.h"

namespace sdpp {
namespace {

using test::all_close;
using test::all_equal;
using test::random_tensor;

TEST(AddMul, SameShape) {
  std::mt19937 rng(1);
  Tensor a = random_tensor({3, 4, 5}, rng), b = random_tensor({3, 4, 5}, rng);
  std::vector<double> sum, prod;
  for (int64_t i = 0; i < a.numel(); ++i) {
    sum.push_back(a.f32()[i] + b.f32()[i]);
    prod.push_back(double(a.f32()[i] * b.f32()[i]));
  }
  EXPECT_TRUE(all_close(ops::add(a, b), sum, 1e-7));
  EXPECT_TRUE(all_equal(ops::mul(a, b), prod));
}

TEST(AddMul, BroadcastPerChannelOverSpatial) {
  std::mt19937 rng(2);
  const int64_t N = 2, C = 5, H = 3, W = 7;
  Tensor a = random_tensor({N, C, H, W}, rng), b = random_tensor({N, C}, rng);
  std::vector<double> sum, prod;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < H * W; ++p) {
        const float av = a.f32()[(n * C + c) * H * W + p], bv = b.f32()[n * C + c];
        sum.push_back(double(av + bv));
        prod.push_back(double(av * bv));
      }
  EXPECT_TRUE(all_equal(ops::add(a, b), sum));
  EXPECT_TRUE(all_equal(ops::mul(a, b), prod));
}

TEST(AddMul, BroadcastOverLastDim) {
  std::mt19937 rng(3);
  Tensor a = random_tensor({2, 9, 13}, rng), b = random_tensor({13}, rng);
  std::vector<double> sum, prod;
  for (int64_t i = 0; i < a.numel(); ++i) {
    sum.push_back(double(a.f32()[i] + b.f32()[i % 13]));
    prod.push_back(double(a.f32()[i] * b.f32()[i % 13]));
  }
  EXPECT_TRUE(all_equal(ops::add(a, b), sum));
  EXPECT_TRUE(all_equal(ops::mul(a, b), prod));
}

TEST(AddMul, IncompatibleShapesThrow) {
  std::mt19937 rng(4);
  Tensor a = random_tensor({2, 3, 4, 4}, rng);
  for (const Shape& s : {Shape{3, 2}, Shape{3}, Shape{2, 3, 4}, Shape{1, 3, 4, 4}}) {
    try {
      ops::add(a, random_tensor(s, rng));
      FAIL() << "add accepted " << shape_str(s);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
      EXPECT_NE(std::string(e.what()).find("add"), std::string::npos);
    }
    EXPECT_THROW(ops::mul(a, random_tensor(s, rng)), Error);
  }
}

TEST(Unary, ScaleClampExp) {
  std::mt19937 rng(5);
  Tensor x = random_tensor({1000}, rng, -4.0f, 4.0f);
  std::vector<double> scaled, clamped, exped;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.f32()[i];
    scaled.push_back(double(v * 0.5f + 0.25f));
    clamped.push_back(std::min(std::max(v, -1.0f), 2.0f));
    exped.push_back(std::exp(double(v)));
  }
  EXPECT_TRUE(all_close(ops::scale(x, 0.5f, 0.25f), scaled, 1e-7));
  EXPECT_TRUE(all_equal(ops::clamp(x, -1.0f, 2.0f), clamped));
  EXPECT_TRUE(all_close(ops::exp(x), exped, 1e-6));
  EXPECT_THROW(ops::clamp(x, 1.0f, -1.0f), Error);
}

TEST(Lincomb, SumsInOrder) {
  std::mt19937 rng(6);
  const Shape s{2, 4, 9, 9};
  std::vector<Tensor> xs;
  for (int i = 0; i < 4; ++i) xs.push_back(random_tensor(s, rng));
  const std::vector<double> coeffs{1.0, -0.75, 0.3333333333, 2.5};
  Tensor y = ops::lincomb(xs, coeffs);
  ASSERT_EQ(y.shape(), s);
  std::vector<double> ref;
  for (int64_t i = 0; i < y.numel(); ++i) {
    float acc = float(coeffs[0]) * xs[0].f32()[i];
    for (size_t t = 1; t < xs.size(); ++t) acc += float(coeffs[t]) * xs[t].f32()[i];
    ref.push_back(acc);
  }
  EXPECT_TRUE(all_close(y, ref, 1e-6));
  const std::vector<Tensor> mismatched{xs[0], random_tensor({2, 4, 9, 8}, rng)};
  const std::vector<double> two{1.0, 1.0};
  EXPECT_THROW(ops::lincomb(mismatched, two), Error);
  EXPECT_THROW(ops::lincomb(xs, two), Error);
}

TEST(Unary, ClampKeepsNanAndInfinitiesClamp) {
  // As torch.clamp: a NaN image stays NaN through the pipeline's clamp to [0, 1], so it can be detected.
  const std::vector<float> v = {std::nanf(""), std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(), 0.5f};
  const std::vector<float> out = ops::clamp(Tensor::from_floats(v, {4}), 0.0f, 1.0f).to_floats();
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 0.5f);
}

TEST(Ops, NonFloatInputIsRejected) {
  // f16/bf16 are storage the cpu widens (test_ops_reduced_storage.cpp); integers and f64 reach no kernel.
  std::mt19937 rng(7);
  for (DType type : {DType::I64, DType::F64}) {
    Tensor t = random_tensor({4, 4}, rng).to(type);
    try {
      ops::scale(t, 2.0f);
      FAIL() << dtype_name(type) << " input accepted by the f32 cpu backend";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Unsupported);
      EXPECT_NE(std::string(e.what()).find(dtype_name(type)), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace sdpp
