// The own implicit-GEMM kernel for 3x3 convolutions (conv3x3_splitk_sm90.cu) against the cpu backend: called
// directly in each block width, and through ops::conv2d with the backend's conv path forced to it and timed.
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
using cuda_test::nhwc;
using cuda_test::tolerance;

struct Case {
  int64_t n, c, h, w, o;
  int stride;
  ops::Conv2dOptions options() const { return ops::Conv2dOptions::same(3, stride); }
  Shape out_shape() const { return {n, o, (h - 1) / stride + 1, (w - 1) / stride + 1}; }
};

// Whole images a block: SD 1.5's 8x8 level at a narrower width; a single image (the copy's box reaches past the
// batch) with one 64-channel K tile (9 tiles over 8 blocks); 4x4 images, eight a block, three of them; five 8x8 images
// (the last block half full); 128-pixel images, one a block; stride 2 into 8x8 (SD 1.5's last downsampling), from an
// even and an odd size.
// Whole rows a block: a 16x16 image (8 rows a block, K split in eight); 32x32 into 16x16 with stride 2; two 64x64
// images at SD 1.5's 320 outputs (2 rows a block, 128 to 320 tiles: no split) and one at 128 (K split in two at 64
// outputs a block, in four at 128); 64x64 into 32x32 with stride 2 from an odd size (63x63) and an even one (4 rows a
// block); a 16-pixel-wide image 24 rows high (three tiles of 8 rows).
const Case kCases[] = {Case{2, 640, 8, 8, 640, 1},    Case{1, 64, 8, 8, 80, 1},    Case{3, 192, 4, 4, 128, 1},
                       Case{5, 128, 8, 8, 64, 1},     Case{2, 256, 16, 8, 128, 1}, Case{2, 128, 16, 16, 128, 2},
                       Case{1, 64, 15, 15, 64, 2},    Case{1, 128, 16, 16, 160, 1}, Case{2, 128, 32, 32, 64, 2},
                       Case{2, 64, 64, 64, 320, 1},   Case{1, 64, 63, 63, 80, 2},  Case{1, 192, 64, 64, 64, 2},
                       Case{1, 64, 24, 16, 128, 1},   Case{1, 64, 64, 64, 128, 1}};

class CudaConv3x3SplitK : public testing::TestWithParam<DType> {
 protected:
  void TearDown() override {
    if (cuda_device_count() > 0) set_cuda_conv_path("timed");
  }
  static CudaBackend& backend() { return dynamic_cast<CudaBackend&>(backend_for(Device::cuda())); }
};

// The kernel itself, so that a fallback inside the backend cannot hide it: every block width that divides the outputs,
// with bias and residual and without, into NaN-poisoned outputs.
TEST_P(CudaConv3x3SplitK, KernelMatchesTheCpu) {
  SDPP_REQUIRE_CUDA();
  if (GetParam() == DType::F32) GTEST_SKIP() << "the kernel is for f16/bf16 (f32 takes cuDNN, tested below)";
  if (!linear_geglu_sm90_compiled()) GTEST_SKIP() << "this build has no sm_90a code";
  if (compute_capability_major() != 9) GTEST_SKIP() << "not a Hopper GPU";
  const DType dtype = GetParam();
  Inputs in(dtype);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const cudaStream_t stream = backend().stream();
  for (const Case& c : kCases) {
    SCOPED_TRACE("x [" + std::to_string(c.n) + ", " + std::to_string(c.c) + ", " + std::to_string(c.h) + ", " +
                 std::to_string(c.w) + "] -> " + std::to_string(c.o) + " stride " + std::to_string(c.stride));
    const double s = 1.0 / std::sqrt(double(9 * c.c));
    const Tensor x = in.host({c.n, c.c, c.h, c.w}), w = in.host({c.o, c.c, 3, 3}, float(-s), float(s));
    const Tensor b = in.host({c.o}), r = in.host(c.out_shape());
    const Tensor dx = in.device(nhwc(x)), dw = in.device(nhwc(w)), db = in.device(b), dr = in.device(nhwc(r));
    ops::Conv2dOptions with_r = c.options();
    with_r.residual = &r;
    const Tensor ref = nhwc(ops::conv2d(x, w, b, with_r));
    const Tensor ref_plain = nhwc(ops::conv2d(x, w, Tensor(), c.options()));
    int launched = 0;
    for (const int outputs : conv3x3_splitk_block_outputs()) {
      if (c.o % outputs != 0) continue;
      SCOPED_TRACE("outputs a block " + std::to_string(outputs));
      Tensor out = Tensor::empty(ref.shape(), dtype, Device::cuda());  // NaN-poisoned: unwritten outputs show
      ASSERT_TRUE(launch_conv3x3_splitk_sm90(dx.raw(), dw.raw(), db.raw(), dr.raw(), out.raw(), dtype, c.n, c.h, c.w,
                                             c.c, c.o, c.stride, outputs, stream));
      SDPP_EXPECT_CLOSE(out, ref, tolerance(dtype, true));
      Tensor plain = Tensor::empty(ref.shape(), dtype, Device::cuda());
      ASSERT_TRUE(launch_conv3x3_splitk_sm90(dx.raw(), dw.raw(), nullptr, nullptr, plain.raw(), dtype, c.n, c.h, c.w,
                                             c.c, c.o, c.stride, outputs, stream));
      SDPP_EXPECT_CLOSE(plain, ref_plain, tolerance(dtype, true));
      ++launched;
    }
    EXPECT_GT(launched, 0);
  }
}

// Shapes and types the kernel does not take are refused without a launch.
TEST_P(CudaConv3x3SplitK, RefusesWhatItDoesNotCover) {
  SDPP_REQUIRE_CUDA();
  if (!linear_geglu_sm90_compiled()) GTEST_SKIP() << "this build has no sm_90a code";
  if (compute_capability_major() != 9) GTEST_SKIP() << "not a Hopper GPU";
  const DType dtype = GetParam() == DType::F32 ? DType::F16 : GetParam();
  const cudaStream_t stream = backend().stream();
  Tensor buffer = Tensor::empty({1 << 20}, dtype, Device::cuda());
  void* p = buffer.raw();
  struct Refused {
    const char* why;
    DType dtype;
    int64_t h, w, c, o;
    int stride, outputs, misalign;  // misalign: bytes added to the input's address
  };
  for (const Refused& r : {Refused{"f32", DType::F32, 8, 8, 64, 64, 1, 64, 0},
                           Refused{"36 pixels do not divide 128, nor 6 pixels a row", dtype, 6, 6, 64, 64, 1, 64, 0},
                           Refused{"24 pixels a row do not divide 128", dtype, 24, 24, 64, 64, 1, 64, 0},
                           Refused{"20 rows are not whole 8-row tiles", dtype, 20, 16, 64, 64, 1, 64, 0},
                           Refused{"256 pixels a row are more than a block's rows", dtype, 2, 256, 64, 64, 1, 64, 0},
                           Refused{"96 channels are not whole 64-channel K tiles", dtype, 8, 8, 96, 64, 1, 64, 0},
                           Refused{"96 outputs are not whole 64-output blocks", dtype, 8, 8, 64, 96, 1, 64, 0},
                           Refused{"96 is not one of the kernel's block widths", dtype, 8, 8, 64, 64, 1, 96, 0},
                           Refused{"stride 3", dtype, 8, 8, 64, 64, 3, 64, 0},
                           Refused{"stride 2 from 48x48 makes 24-pixel rows", dtype, 48, 48, 64, 64, 2, 64, 0},
                           Refused{"an input not 16-byte aligned cannot be a TMA source", dtype, 8, 8, 64, 64, 1, 64,
                                   2}})
    EXPECT_FALSE(launch_conv3x3_splitk_sm90(static_cast<char*>(p) + r.misalign, p, nullptr, nullptr, p, r.dtype, 2,
                                            r.h, r.w, r.c, r.o, r.stride, r.outputs, stream))
        << r.why;
}

// ops::conv2d with the path forced to the own kernel (the timed choice where it does not apply: f32, other GPUs),
// then timed: equal to the cpu, bias and residual included.
TEST_P(CudaConv3x3SplitK, ConvolutionsThroughTheBackend) {
  SDPP_REQUIRE_CUDA();
  const DType dtype = GetParam();
  Inputs in(dtype);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (const char* path : {"own", "timed"}) {
    SCOPED_TRACE(std::string("conv path ") + path);
    set_cuda_conv_path(path);
    for (const Case& c : {kCases[0], kCases[2], kCases[5], kCases[8], kCases[9]}) {
      const double s = 1.0 / std::sqrt(double(9 * c.c));
      const Tensor x = in.host({c.n, c.c, c.h, c.w}), w = in.host({c.o, c.c, 3, 3}, float(-s), float(s));
      const Tensor b = in.host({c.o}), r = in.host(c.out_shape());
      const Tensor dw = ops::prepare_conv_weight(in.device(w)), db = in.device(b), dr = in.device(r);
      ops::Conv2dOptions host_o = c.options(), device_o = host_o;
      host_o.residual = &r;
      device_o.residual = &dr;
      const Tensor ref = ops::conv2d(x, w, b, host_o);
      SDPP_EXPECT_CLOSE(ops::conv2d(in.device(x), dw, db, device_o), ref, tolerance(dtype, true));
      SDPP_EXPECT_CLOSE(ops::conv2d(in.device(x), dw, db, c.options()), ops::conv2d(x, w, b, c.options()),
                        tolerance(dtype, true));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaConv3x3SplitK, testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const testing::TestParamInfo<DType>& p) { return std::string(dtype_name(p.param)); });

}  // namespace
}  // namespace sdpp::cuda
#endif
