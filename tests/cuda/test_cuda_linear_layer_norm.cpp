// linear_layer_norm (a projection, plus a residual, and the layer norm of the result: how a transformer block's
// sublayers meet) on the GPU against the cpu backend, by each path the cuda backend may take: the fused Hopper kernel,
// cuBLASLt's GEMM followed by layer_norm(), and the timed choice between them.
#include <gtest/gtest.h>

#ifdef SDPP_WITH_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/kernels.h"
#include "cuda_test_util.h"

namespace sdpp::cuda {
namespace {

using cuda_test::Inputs;
using cuda_test::tolerance;

class CudaLinearLayerNorm : public testing::TestWithParam<DType> {
 protected:
  void TearDown() override {
    if (cuda_device_count() > 0) backend().set_linear_norm_path(CudaBackend::FusedPath::Timed);
  }
  static CudaBackend& backend() { return dynamic_cast<CudaBackend&>(backend_for(Device::cuda())); }
};

struct Case {
  Shape x;
  int64_t n;  // outputs: the weight is [n, K]
};

// SD 1.5's two widths the kernel tiles (320: whole rows a block; 640: a cluster of four blocks a row) over row
// counts that leave the last 64-row block partial; K that leaves the last 64-wide tile partial (72), K of four times
// the width (a feed-forward's output projection); a single row; and a width the kernel does not take (768).
const Case kCases[] = {Case{{2, 150, 320}, 320}, Case{{1, 77, 640}, 640}, Case{{3, 41, 72}, 320},
                       Case{{2, 65, 1280}, 640}, Case{{1, 1, 320}, 320}, Case{{2, 20, 320}, 768}};

struct Operands {
  Tensor x, w, b, residual, gamma, beta;
};

// The residual sits around 3 so that a row's mean is large next to its spread, as in a transformer's residual stream:
// a one-pass variance would lose digits there.
Operands host_operands(Inputs& in, const Case& c) {
  const int64_t k = c.x.back();
  const float scale = float(1.0 / std::sqrt(double(k)));
  Shape out_shape = c.x;
  out_shape.back() = c.n;
  return {in.host(c.x), in.host({c.n, k}, -scale, scale), in.host({c.n}), in.host(out_shape, 2.0f, 4.0f),
          in.host({c.n}, 0.5f, 1.5f), in.host({c.n})};
}

TEST_P(CudaLinearLayerNorm, EveryPathMatchesTheCpu) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  constexpr float kEps = 1e-5f;
  for (CudaBackend::FusedPath path :
       {CudaBackend::FusedPath::Fused, CudaBackend::FusedPath::Library, CudaBackend::FusedPath::Timed}) {
    backend().set_linear_norm_path(path);
    for (const Case& c : kCases) {
      SCOPED_TRACE("path " + std::to_string(int(path)) + " x " + shape_str(c.x) + " n " + std::to_string(c.n));
      const Operands h = host_operands(in, c);
      const Tensor dx = in.device(h.x), dw = in.device(h.w), db = in.device(h.b), dr = in.device(h.residual);
      const Tensor dg = in.device(h.gamma), dbeta = in.device(h.beta);
      const double tol = tolerance(GetParam(), true);
      for (bool with_residual : {true, false}) {
        SCOPED_TRACE(with_residual ? "with a residual" : "without a residual");
        ops::LinearOptions on_device, on_host;
        on_device.residual = with_residual ? &dr : nullptr;
        on_host.residual = with_residual ? &h.residual : nullptr;
        const ops::LinearAndNorm got = ops::linear_layer_norm(dx, dw, db, on_device, dg, dbeta, kEps);
        const ops::LinearAndNorm want = ops::linear_layer_norm(h.x, h.w, h.b, on_host, h.gamma, h.beta, kEps);
        SDPP_EXPECT_CLOSE(got.out, want.out, tol);
        SDPP_EXPECT_CLOSE(got.normed, want.normed, tol);
      }
      const ops::LinearAndNorm unbiased = ops::linear_layer_norm(dx, dw, Tensor(), {}, dg, dbeta, kEps);
      SDPP_EXPECT_CLOSE(unbiased.normed, ops::linear_layer_norm(h.x, h.w, Tensor(), {}, h.gamma, h.beta, kEps).normed,
                        tol);
    }
  }
}

// The kernel itself, called directly, so that a fallback inside the backend cannot hide it: on sm_90 it must take
// every case above it has a tiling for and match the cpu; shapes it does not cover are refused without a launch.
TEST_P(CudaLinearLayerNorm, FusedKernelOnHopper) {
  SDPP_REQUIRE_CUDA();
  if (GetParam() == DType::F32) GTEST_SKIP() << "the fused kernel is for f16/bf16 (f32 takes the library path above)";
  if (!linear_layer_norm_sm90_takes(GetParam(), 64, 64, 320)) GTEST_SKIP() << "this build has no sm_90a code";
  if (compute_capability_major() != 9) GTEST_SKIP() << "not a Hopper GPU";
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const DType dtype = GetParam();
  const cudaStream_t stream = backend().stream();
  constexpr float kEps = 1e-5f;
  for (const Case& c : kCases) {
    const int64_t k = c.x.back(), m = shape_numel(c.x) / k;
    if (!linear_layer_norm_sm90_takes(dtype, m, k, c.n)) {
      EXPECT_EQ(c.n, 768) << "the kernel refused a width it has a tiling for";
      continue;
    }
    SCOPED_TRACE("x " + shape_str(c.x) + " n " + std::to_string(c.n));
    const Operands h = host_operands(in, c);
    const Tensor dx = in.device(h.x), dw = in.device(h.w), db = in.device(h.b), dr = in.device(h.residual);
    const Tensor dg = in.device(h.gamma), dbeta = in.device(h.beta);
    Shape out_shape = c.x;
    out_shape.back() = c.n;
    // NaN-poisoned: unwritten outputs show.
    Tensor out = Tensor::empty(out_shape, dtype, Device::cuda()), normed = Tensor::empty(out_shape, dtype, Device::cuda());
    LinearLayerNormArgs args;
    args.x = dx.raw(), args.weight = dw.raw(), args.bias = db.raw(), args.residual = dr.raw();
    args.gamma = dg.raw(), args.beta = dbeta.raw(), args.out = out.raw(), args.normed = normed.raw();
    args.m = m, args.k = k, args.n = c.n, args.eps = kEps;
    ASSERT_TRUE(launch_linear_layer_norm_sm90(args, dtype, stream));
    ops::LinearOptions add;
    add.residual = &h.residual;
    const ops::LinearAndNorm want = ops::linear_layer_norm(h.x, h.w, h.b, add, h.gamma, h.beta, kEps);
    SDPP_EXPECT_CLOSE(out, want.out, tolerance(dtype, true));
    SDPP_EXPECT_CLOSE(normed, want.normed, tolerance(dtype, true));
  }
  EXPECT_FALSE(linear_layer_norm_sm90_takes(dtype, 64, 64, 256)) << "256 outputs have no tiling";
  EXPECT_FALSE(linear_layer_norm_sm90_takes(dtype, 64, 12, 320)) << "rows of 12 elements cannot be TMA copies";
  EXPECT_FALSE(linear_layer_norm_sm90_takes(DType::F32, 64, 64, 320));
  LinearLayerNormArgs no_norm;
  const Tensor x = in.device(in.host({64, 64})), w = in.device(in.host({320, 64}));
  Tensor out = Tensor::empty({64, 320}, dtype, Device::cuda());
  no_norm.x = x.raw(), no_norm.weight = w.raw(), no_norm.out = out.raw(), no_norm.normed = out.raw();
  no_norm.m = 64, no_norm.k = 64, no_norm.n = 320;
  EXPECT_FALSE(launch_linear_layer_norm_sm90(no_norm, dtype, stream)) << "a norm needs its gamma and beta";
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaLinearLayerNorm, testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const testing::TestParamInfo<DType>& p) { return std::string(dtype_name(p.param)); });

}  // namespace
}  // namespace sdpp::cuda

#endif  // SDPP_WITH_CUDA
