// The kernel for 3x3 convolutions with at most 8 outputs (conv3x3_narrow.cu: the UNet's and the VAE decoder's
// conv_out) against the cpu backend: called directly into NaN-poisoned outputs, and through ops::conv2d.
#include <gtest/gtest.h>

#ifdef SDPP_WITH_CUDA
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/kernels.h"
#include "cuda_test_util.h"

namespace sdpp::cuda {
namespace {

using cuda_test::Inputs;
using cuda_test::nhwc;
using cuda_test::tolerance;

struct Case {
  int64_t n, c, h, w, o;
};

// SD 1.5's conv_out at 512x512 (320 -> 4 at 64x64, batch 2); the VAE's (128 -> 3) on a smaller image; 8 outputs over
// an odd number of pixels (the last 16-pixel tile partial); one pixel, whose taps but the centre fall in the padding;
// one 32-channel K step a tap (9 steps over the four warps of a tile).
const Case kCases[] = {Case{2, 320, 64, 64, 4}, Case{1, 128, 24, 20, 3}, Case{3, 64, 7, 5, 8}, Case{1, 32, 1, 1, 1},
                       Case{2, 32, 3, 9, 2}};

class CudaConv3x3Narrow : public testing::TestWithParam<DType> {
 protected:
  void TearDown() override {
    if (cuda_device_count() > 0) set_cuda_conv_path("timed");
  }
  static CudaBackend& backend() { return dynamic_cast<CudaBackend&>(backend_for(Device::cuda())); }
};

std::string describe(const Case& c) {
  return "x [" + std::to_string(c.n) + ", " + std::to_string(c.c) + ", " + std::to_string(c.h) + ", " +
         std::to_string(c.w) + "] -> " + std::to_string(c.o);
}

TEST_P(CudaConv3x3Narrow, KernelMatchesTheCpu) {
  SDPP_REQUIRE_CUDA();
  if (GetParam() == DType::F32) GTEST_SKIP() << "the kernel is for f16/bf16 (f32 takes the timed choice)";
  const DType dtype = GetParam();
  Inputs in(dtype);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (const Case& c : kCases) {
    SCOPED_TRACE(describe(c));
    const double s = 1.0 / std::sqrt(double(9 * c.c));
    const Tensor x = in.host({c.n, c.c, c.h, c.w}), w = in.host({c.o, c.c, 3, 3}, float(-s), float(s));
    const Tensor b = in.host({c.o});
    const Tensor dx = in.device(nhwc(x)), dw = in.device(nhwc(w)), db = in.device(b);
    const ops::Conv2dOptions same = ops::Conv2dOptions::same(3);
    Tensor out = Tensor::empty({c.n, c.o, c.h, c.w}, dtype, Device::cuda());  // NaN-poisoned: unwritten outputs show
    ASSERT_TRUE(launch_conv3x3_narrow(dx.raw(), dw.raw(), db.raw(), out.raw(), dtype, c.n, c.h, c.w, c.c, c.o,
                                      backend().stream()));
    SDPP_EXPECT_CLOSE(out, ops::conv2d(x, w, b, same), tolerance(dtype, true));
    Tensor plain = Tensor::empty({c.n, c.o, c.h, c.w}, dtype, Device::cuda());
    ASSERT_TRUE(launch_conv3x3_narrow(dx.raw(), dw.raw(), nullptr, plain.raw(), dtype, c.n, c.h, c.w, c.c, c.o,
                                      backend().stream()));
    SDPP_EXPECT_CLOSE(plain, ops::conv2d(x, w, Tensor(), same), tolerance(dtype, true));
  }
}

TEST_P(CudaConv3x3Narrow, RefusesWhatItDoesNotCover) {
  SDPP_REQUIRE_CUDA();
  const DType dtype = GetParam() == DType::F32 ? DType::F16 : GetParam();
  Tensor buffer = Tensor::empty({1 << 16}, dtype, Device::cuda());
  char* p = static_cast<char*>(buffer.raw());
  struct Refused {
    const char* why;
    DType dtype;
    int64_t c, o;
    int misalign;  // bytes added to the input's address
  };
  for (const Refused& r : {Refused{"f32", DType::F32, 32, 4, 0}, Refused{"9 outputs are more than the MMA's 8", dtype, 32, 9, 0},
                           Refused{"48 channels are not whole 32-channel K steps", dtype, 48, 4, 0},
                           Refused{"an input not 16-byte aligned cannot be read in 16-byte pieces", dtype, 32, 4, 8}})
    EXPECT_FALSE(launch_conv3x3_narrow(p + r.misalign, p, nullptr, p, r.dtype, 1, 4, 4, r.c, r.o, backend().stream()))
        << r.why;
}

// ops::conv2d with the path forced to the kernel (where it applies: f16/bf16 channels-last data, no residual; the
// timed choice elsewhere), then timed: equal to the cpu either way.
TEST_P(CudaConv3x3Narrow, ConvolutionsThroughTheBackend) {
  SDPP_REQUIRE_CUDA();
  const DType dtype = GetParam();
  Inputs in(dtype);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (const char* path : {"narrow", "timed"}) {
    SCOPED_TRACE(std::string("conv path ") + path);
    set_cuda_conv_path(path);
    for (const Case& c : {kCases[0], kCases[2]}) {
      SCOPED_TRACE(describe(c));
      const double s = 1.0 / std::sqrt(double(9 * c.c));
      const Tensor x = in.host({c.n, c.c, c.h, c.w}), w = in.host({c.o, c.c, 3, 3}, float(-s), float(s));
      const Tensor b = in.host({c.o}), r = in.host({c.n, c.o, c.h, c.w});
      const Tensor dw = ops::prepare_conv_weight(in.device(w)), db = in.device(b), dr = in.device(r);
      const ops::Conv2dOptions same = ops::Conv2dOptions::same(3);
      const Tensor y = ops::conv2d(in.device(x), dw, db, same);
      SDPP_EXPECT_CLOSE(y, ops::conv2d(x, w, b, same), tolerance(dtype, true));
      // The kernel writes NCHW; the library paths leave channels-last data channels-last.
      if (dtype != DType::F32 && std::string(path) == "narrow" && backend().channels_last()) {
        EXPECT_EQ(y.format(), MemoryFormat::Contiguous);
      }
      ops::Conv2dOptions host_o = same, device_o = same;
      host_o.residual = &r;
      device_o.residual = &dr;
      SDPP_EXPECT_CLOSE(ops::conv2d(in.device(x), dw, db, device_o), ops::conv2d(x, w, b, host_o),
                        tolerance(dtype, true));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaConv3x3Narrow, testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const testing::TestParamInfo<DType>& p) { return std::string(dtype_name(p.param)); });

}  // namespace
}  // namespace sdpp::cuda
#endif
