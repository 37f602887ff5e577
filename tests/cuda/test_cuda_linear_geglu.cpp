// linear_geglu (diffusers' GEGLU: projection, then hidden * gelu(gate)) on the GPU against the cpu backend, by each
// path the cuda backend may take: the fused Hopper kernel, cuBLASLt's projection followed by geglu(), and the timed
// choice between them.
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

class CudaLinearGeglu : public testing::TestWithParam<DType> {
 protected:
  void TearDown() override {
    if (cuda_device_count() > 0) backend().set_geglu_path(CudaBackend::FusedPath::Timed);
  }
  static CudaBackend& backend() { return dynamic_cast<CudaBackend&>(backend_for(Device::cuda())); }
};

struct Case {
  Shape x;
  int64_t f;  // outputs: the weight is [2f, K]
};

// SD 1.5's 32x32 feed-forward width over a few rows; row counts that leave the last 128-row block partial; K that
// leaves the last 64-wide K tile partial (72) or is one tile (64); a single row. The last two have more output tiles
// (660, 320) than an H100's 264 persistent blocks, so blocks compute several in a row: SD 1.5's 64x64 width with a
// partial last row block, and K tiles fewer than the stages, so a block's first copies span two output tiles.
const Case kCases[] = {Case{{2, 150, 640}, 2560}, Case{{1, 77, 320}, 1280}, Case{{3, 41, 72}, 128},
                       Case{{1, 1, 64}, 64},      Case{{2, 130, 1280}, 192}, Case{{2, 2050, 320}, 1280},
                       Case{{1, 2000, 72}, 1280}};

TEST_P(CudaLinearGeglu, EveryPathMatchesTheCpu) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (CudaBackend::FusedPath path :
       {CudaBackend::FusedPath::Fused, CudaBackend::FusedPath::Library, CudaBackend::FusedPath::Timed}) {
    backend().set_geglu_path(path);
    for (const Case& c : kCases) {
      SCOPED_TRACE("path " + std::to_string(int(path)) + " x " + shape_str(c.x) + " f " + std::to_string(c.f));
      const int64_t k = c.x.back();
      const double scale = 1.0 / std::sqrt(double(k));
      const Tensor x = in.host(c.x), w = in.host({2 * c.f, k}, float(-scale), float(scale)), b = in.host({2 * c.f});
      const Tensor dx = in.device(x), dw = in.device(w), db = in.device(b);
      const double tol = tolerance(GetParam(), true);
      SDPP_EXPECT_CLOSE(ops::linear_geglu(dx, dw, db), ops::linear_geglu(x, w, b), tol);
      SDPP_EXPECT_CLOSE(ops::linear_geglu(dx, dw, Tensor()), ops::linear_geglu(x, w, Tensor()), tol);
    }
  }
}

// The kernel itself, called directly, so that a fallback inside the backend cannot hide it: on sm_90 it must take
// every case above and match the cpu; shapes it does not cover are refused without a launch.
TEST_P(CudaLinearGeglu, FusedKernelOnHopper) {
  SDPP_REQUIRE_CUDA();
  if (GetParam() == DType::F32) GTEST_SKIP() << "the fused kernel is for f16/bf16 (f32 takes the library path above)";
  if (!linear_geglu_sm90_compiled()) GTEST_SKIP() << "this build has no sm_90a code";
  if (compute_capability_major() != 9) GTEST_SKIP() << "not a Hopper GPU";
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const DType dtype = GetParam();
  const cudaStream_t stream = backend().stream();
  for (const Case& c : kCases) {
    SCOPED_TRACE("x " + shape_str(c.x) + " f " + std::to_string(c.f));
    const int64_t k = c.x.back(), m = shape_numel(c.x) / k;
    const double scale = 1.0 / std::sqrt(double(k));
    const Tensor x = in.host(c.x), w = in.host({2 * c.f, k}, float(-scale), float(scale)), b = in.host({2 * c.f});
    const Tensor dx = in.device(x), dw = in.device(w), db = in.device(b);
    Shape out_shape = c.x;
    out_shape.back() = c.f;
    Tensor out = Tensor::empty(out_shape, dtype, Device::cuda());  // NaN-poisoned: unwritten outputs show
    ASSERT_TRUE(launch_linear_geglu_sm90(dx.raw(), dw.raw(), db.raw(), out.raw(), dtype, m, k, c.f, stream));
    SDPP_EXPECT_CLOSE(out, ops::linear_geglu(x, w, b), tolerance(dtype, true));
  }
  Tensor out = Tensor::empty({4, 96}, dtype, Device::cuda());
  const Tensor x = in.device(in.host({4, 64})), w = in.device(in.host({192, 64}));
  EXPECT_FALSE(launch_linear_geglu_sm90(x.raw(), w.raw(), nullptr, out.raw(), dtype, 4, 64, 96, stream))
      << "96 outputs are not whole 64-output blocks";
  const Tensor x12 = in.device(in.host({4, 12})), w12 = in.device(in.host({128, 12}));
  EXPECT_FALSE(launch_linear_geglu_sm90(x12.raw(), w12.raw(), nullptr, out.raw(), dtype, 4, 12, 64, stream))
      << "rows of 12 elements cannot be TMA copies";
  EXPECT_FALSE(launch_linear_geglu_sm90(x.raw(), w.raw(), nullptr, out.raw(), DType::F32, 4, 64, 64, stream));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaLinearGeglu, testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const testing::TestParamInfo<DType>& p) { return std::string(dtype_name(p.param)); });

}  // namespace
}  // namespace sdpp::cuda
#endif
