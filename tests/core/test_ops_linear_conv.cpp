// linear and conv2d against naive double-precision loops.
#include <gtest/gtest.h>

#include "backend/ops.h"
#include "core/error.h"
#include "op_test_util.h"

namespace sdpp {
namespace {

using test::act_ref;
using test::all_close;
using test::random_tensor;

struct LinearCase {
  Shape x_shape;
  int64_t out;
  bool bias;
  ops::Activation act;
  bool residual;
};

class LinearTest : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearTest, MatchesNaive) {
  const LinearCase& c = GetParam();
  std::mt19937 rng(11);
  const int64_t K = c.x_shape.back(), N = c.out;
  Tensor x = random_tensor(c.x_shape, rng);
  Tensor w = random_tensor({N, K}, rng);
  Tensor b = c.bias ? random_tensor({N}, rng) : Tensor();
  Shape out_shape = c.x_shape;
  out_shape.back() = N;
  Tensor r = c.residual ? random_tensor(out_shape, rng) : Tensor();
  ops::LinearOptions o;
  o.activation = c.act;
  o.residual = c.residual ? &r : nullptr;
  Tensor y = ops::linear(x, w, b, o);
  ASSERT_EQ(y.shape(), out_shape);
  const int64_t M = x.numel() / K;
  std::vector<double> ref(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = c.bias ? b.f32()[n] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += double(x.f32()[m * K + k]) * w.f32()[n * K + k];
      s = act_ref(s, c.act);
      if (c.residual) s += r.f32()[m * N + n];
      ref[size_t(m * N + n)] = s;
    }
  EXPECT_TRUE(all_close(y, ref));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LinearTest,
    ::testing::Values(LinearCase{{3, 5}, 7, true, ops::Activation::None, false},
                      LinearCase{{2, 77, 64}, 96, true, ops::Activation::GELU, false},
                      LinearCase{{1, 257, 130}, 33, false, ops::Activation::None, true},
                      LinearCase{{2, 9, 320}, 1280, true, ops::Activation::SiLU, true},
                      LinearCase{{513, 40}, 17, true, ops::Activation::QuickGELU, false},
                      LinearCase{{4, 31}, 300, true, ops::Activation::GELUTanh, true},
                      LinearCase{{600, 64}, 200, false, ops::Activation::ReLU, false},
                      LinearCase{{5, 8}, 3, true, ops::Activation::Tanh, false}));

TEST(Linear, ShapeMismatchThrows) {
  std::mt19937 rng(1);
  Tensor x = random_tensor({2, 8}, rng), w = random_tensor({4, 9}, rng), b = random_tensor({5}, rng);
  EXPECT_THROW(ops::linear(x, w, Tensor()), Error);
  EXPECT_THROW(ops::linear(x, random_tensor({8}, rng), Tensor()), Error);  // 1-d weight
  Tensor w8 = random_tensor({4, 8}, rng);
  try {
    ops::linear(x, w8, b);
    FAIL() << "bias of the wrong length accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  }
  Tensor r = random_tensor({2, 5}, rng);
  ops::LinearOptions o;
  o.residual = &r;
  EXPECT_THROW(ops::linear(x, w8, Tensor(), o), Error);
}

struct ConvCase {
  int64_t N, C, H, W, O, kh, kw;
  int stride, pt, pl, pb, pr;
  bool bias, residual;
};

class Conv2dTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dTest, MatchesNaive) {
  const ConvCase& c = GetParam();
  std::mt19937 rng(int(c.C * 7 + c.kh));
  Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng);
  Tensor w = random_tensor({c.O, c.C, c.kh, c.kw}, rng);
  Tensor b = c.bias ? random_tensor({c.O}, rng) : Tensor();
  const int64_t Ho = (c.H + c.pt + c.pb - c.kh) / c.stride + 1, Wo = (c.W + c.pl + c.pr - c.kw) / c.stride + 1;
  Tensor r = c.residual ? random_tensor({c.N, c.O, Ho, Wo}, rng) : Tensor();
  ops::Conv2dOptions o{c.stride, c.pt, c.pl, c.pb, c.pr, c.residual ? &r : nullptr};
  Tensor y = ops::conv2d(x, w, b, o);
  ASSERT_EQ(y.shape(), (Shape{c.N, c.O, Ho, Wo}));
  std::vector<double> ref;
  const float* xp = x.f32();
  const float* wp = w.f32();
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t oc = 0; oc < c.O; ++oc)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double s = c.bias ? b.f32()[oc] : 0.0;
          for (int64_t ic = 0; ic < c.C; ++ic)
            for (int64_t ky = 0; ky < c.kh; ++ky)
              for (int64_t kx = 0; kx < c.kw; ++kx) {
                const int64_t iy = oy * c.stride - c.pt + ky, ix = ox * c.stride - c.pl + kx;
                if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                s += double(xp[((n * c.C + ic) * c.H + iy) * c.W + ix]) * wp[((oc * c.C + ic) * c.kh + ky) * c.kw + kx];
              }
          if (c.residual) s += r.f32()[((n * c.O + oc) * Ho + oy) * Wo + ox];
          ref.push_back(s);
        }
  EXPECT_TRUE(all_close(y, ref));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Conv2dTest,
    ::testing::Values(ConvCase{1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, true, false},      // 3x3 same
                      ConvCase{2, 5, 9, 7, 6, 3, 3, 1, 1, 1, 1, 1, true, true},       // batch 2, odd sizes, residual
                      ConvCase{2, 16, 12, 10, 24, 1, 1, 1, 0, 0, 0, 0, true, true},   // 1x1 direct GEMM
                      ConvCase{1, 6, 11, 13, 5, 1, 1, 2, 0, 0, 0, 0, false, false},   // 1x1 stride 2
                      ConvCase{2, 4, 9, 11, 8, 3, 3, 2, 0, 0, 1, 1, true, false},     // diffusers Downsample2D pad (0,1,0,1)
                      ConvCase{1, 4, 10, 10, 3, 4, 4, 2, 1, 1, 1, 1, true, false},    // 4x4 stride 2
                      ConvCase{1, 3, 7, 6, 2, 3, 3, 3, 2, 0, 1, 2, false, true},      // asymmetric pads, stride 3
                      ConvCase{1, 2, 5, 5, 3, 5, 3, 1, 0, 1, 0, 1, true, false},      // non-square kernel
                      ConvCase{1, 64, 20, 20, 48, 3, 3, 1, 1, 1, 1, 1, true, false},  // channels > block sizes
                      ConvCase{1, 256, 64, 64, 8, 3, 3, 1, 1, 1, 1, 1, true, true},   // wide columns, 4 row bands
                      // 9 bands of 1024 pixels a sample, the last of 2 rows: per-thread bands on up to 9 threads
                      ConvCase{2, 8, 130, 64, 4, 3, 3, 1, 1, 1, 1, 1, true, true},
                      ConvCase{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, false, false}));

TEST(Conv2d, ShapeErrorsThrow) {
  std::mt19937 rng(3);
  Tensor x = random_tensor({1, 3, 4, 4}, rng);
  EXPECT_THROW(ops::conv2d(x, random_tensor({2, 4, 3, 3}, rng), Tensor()), Error);   // channel mismatch
  EXPECT_THROW(ops::conv2d(x, random_tensor({2, 3, 5, 5}, rng), Tensor()), Error);   // kernel > input
  EXPECT_THROW(ops::conv2d(x, random_tensor({2, 3, 3, 3}, rng), random_tensor({3}, rng)), Error);  // bias length
  Tensor wrong = random_tensor({1, 2, 4, 3}, rng);  // output is [1, 2, 4, 4]
  ops::Conv2dOptions o = ops::Conv2dOptions::same(3);
  o.residual = &wrong;
  EXPECT_THROW(ops::conv2d(x, random_tensor({2, 3, 3, 3}, rng), Tensor(), o), Error);
  ops::Conv2dOptions bad;
  bad.stride = 0;
  EXPECT_THROW(ops::conv2d(x, random_tensor({2, 3, 3, 3}, rng), Tensor(), bad), Error);
}

}  // namespace
}  // namespace sdpp
