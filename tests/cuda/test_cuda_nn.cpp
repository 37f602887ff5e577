// GEMM, convolution and normalisation ops of the CUDA backend against the cpu backend.
#include "cuda_test_util.h"

namespace sdpp {
namespace {

using cuda_test::Inputs;
using cuda_test::tolerance;

class CudaNn : public testing::TestWithParam<DType> {};

TEST_P(CudaNn, LinearWithBiasActivationAndResidual) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  struct Case {
    Shape x;
    int64_t out;
  };
  // SD-like shapes plus odd ones whose rows are not 16-byte aligned in f16.
  for (const Case& c : {Case{{2, 77, 320}, 640}, Case{{3, 5, 37}, 19}, Case{{1, 1}, 7}, Case{{4, 96}, 1280}}) {
    SCOPED_TRACE("x " + shape_str(c.x) + " -> " + std::to_string(c.out));
    const int64_t k = c.x.back();
    const double scale = 1.0 / std::sqrt(double(k));
    const Tensor x = in.host(c.x), w = in.host({c.out, k}, float(-scale), float(scale)), b = in.host({c.out});
    Shape out_shape = c.x;
    out_shape.back() = c.out;
    const Tensor r = in.host(out_shape);
    const Tensor dx = in.device(x), dw = in.device(w), db = in.device(b), dr = in.device(r);
    const double tol = tolerance(GetParam(), true);
    SDPP_EXPECT_CLOSE(ops::linear(dx, dw, Tensor()), ops::linear(x, w, Tensor()), tol);
    SDPP_EXPECT_CLOSE(ops::linear(dx, dw, db), ops::linear(x, w, b), tol);
    for (ops::Activation act : {ops::Activation::None, ops::Activation::GELU, ops::Activation::GELUTanh,
                                ops::Activation::SiLU}) {
      SCOPED_TRACE("activation " + std::to_string(int(act)));
      SDPP_EXPECT_CLOSE(ops::linear(dx, dw, db, {act, nullptr}), ops::linear(x, w, b, {act, nullptr}), tol);
      SDPP_EXPECT_CLOSE(ops::linear(dx, dw, db, {act, &dr}), ops::linear(x, w, b, {act, &r}), tol);
    }
  }
}

TEST_P(CudaNn, Conv2dShapesStridesPaddingResidual) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  struct Case {
    Shape x;
    int64_t out;
    int kernel;
    ops::Conv2dOptions o;
  };
  const Case cases[] = {
      {{2, 8, 13, 11}, 16, 3, ops::Conv2dOptions::same(3)},
      {{1, 4, 16, 24}, 32, 3, ops::Conv2dOptions::same(3)},         // conv_in-like
      {{2, 6, 9, 10}, 6, 3, ops::Conv2dOptions::same(3, 2)},        // UNet downsample
      {{1, 5, 12, 9}, 5, 3, ops::Conv2dOptions{2, 0, 0, 1, 1, nullptr}},  // VAE encoder downsample, asymmetric pad
      {{2, 12, 7, 5}, 3, 1, ops::Conv2dOptions{}},                  // 1x1 projection
      {{1, 3, 8, 8}, 7, 5, ops::Conv2dOptions{1, 2, 1, 0, 3, nullptr}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("x " + shape_str(c.x) + " out " + std::to_string(c.out) + " k " + std::to_string(c.kernel));
    const double scale = 1.0 / std::sqrt(double(c.x[1] * c.kernel * c.kernel));
    const Tensor x = in.host(c.x), w = in.host({c.out, c.x[1], c.kernel, c.kernel}, float(-scale), float(scale));
    const Tensor b = in.host({c.out});
    const Tensor dx = in.device(x), dw = in.device(w), db = in.device(b);
    const double tol = tolerance(GetParam(), true);
    const Tensor ref = ops::conv2d(x, w, b, c.o);
    SDPP_EXPECT_CLOSE(ops::conv2d(dx, dw, db, c.o), ref, tol);
    SDPP_EXPECT_CLOSE(ops::conv2d(dx, dw, Tensor(), c.o), ops::conv2d(x, w, Tensor(), c.o), tol);
    const Tensor r = in.host(ref.shape());
    const Tensor dr = in.device(r);
    ops::Conv2dOptions with_residual = c.o, with_device_residual = c.o;
    with_residual.residual = &r;
    with_device_residual.residual = &dr;
    SDPP_EXPECT_CLOSE(ops::conv2d(dx, dw, db, with_device_residual), ops::conv2d(x, w, b, with_residual), tol);
  }
}

TEST_P(CudaNn, GroupNormWithAndWithoutSilu) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  struct Case {
    Shape x;
    int groups;
  };
  // Includes a group large enough to be split over many blocks (32 channels x 48 x 48 per group).
  for (const Case& c : {Case{{2, 64, 9, 7}, 32}, Case{{1, 32, 5}, 8}, Case{{3, 6, 4, 4}, 3},
                        Case{{1, 1024, 48, 48}, 32}}) {
    SCOPED_TRACE("x " + shape_str(c.x) + " groups " + std::to_string(c.groups));
    const Tensor x = in.host(c.x, -2.0f, 3.0f);  // non-zero mean
    const Tensor g = in.host({c.x[1]}, 0.5f, 1.5f), b = in.host({c.x[1]});
    const Tensor dx = in.device(x), dg = in.device(g), db = in.device(b);
    for (ops::Activation act : {ops::Activation::None, ops::Activation::SiLU}) {
      SDPP_EXPECT_CLOSE(ops::group_norm(dx, c.groups, dg, db, 1e-5f, act),
                        ops::group_norm(x, c.groups, g, b, 1e-5f, act), tolerance(GetParam(), true));
    }
    // A [N, C] term added first: on NCHW inputs the sum is taken before the norm.
    const Tensor t = in.host({c.x[0], c.x[1]}, -4.0f, 4.0f);
    SDPP_EXPECT_CLOSE(ops::group_norm(dx, c.groups, dg, db, 1e-5f, ops::Activation::None, in.device(t)),
                      ops::group_norm(x, c.groups, g, b, 1e-5f, ops::Activation::None, t), tolerance(GetParam(), true));
  }
}

TEST_P(CudaNn, LayerNorm) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (const Shape& shape : {Shape{2, 77, 768}, Shape{3, 5, 33}, Shape{7, 1280}, Shape{2, 9, 320}, Shape{3, 2560}}) {
    SCOPED_TRACE("x " + shape_str(shape));
    const Tensor x = in.host(shape, -1.0f, 3.0f), g = in.host({shape.back()}), b = in.host({shape.back()});
    SDPP_EXPECT_CLOSE(ops::layer_norm(in.device(x), in.device(g), in.device(b), 1e-5f), ops::layer_norm(x, g, b, 1e-5f),
                      tolerance(GetParam(), true));
    // gamma / beta kept in f32 beside f16/bf16 activations: the per-element affine path of the warp kernel
    SDPP_EXPECT_CLOSE(ops::layer_norm(in.device(x), g.to(Device::cuda()), b.to(Device::cuda()), 1e-5f),
                      ops::layer_norm(x, g, b, 1e-5f), tolerance(GetParam(), true));
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaNn, testing::Values(DType::F32, DType::F16, DType::BF16),
                         cuda_test::dtype_param_name);

}  // namespace
}  // namespace sdpp
