// The operations the cuDNN graph paths plan (cudnn_sdpa.cpp, cudnn_conv_graph.cpp), built and finalized the way
// they are for the UNet's shapes. cuDNN checks an operation's descriptors when it is finalized, with no device
// involved, so these run wherever the CUDA backend is built (CI too); planning and running them need a GPU and are
// covered by test_cuda_attention.cpp and test_cuda_channels_last.cpp there.
#include <gtest/gtest.h>

#ifdef SDPP_WITH_CUDA
#include <array>
#include <string>

#include "backend/cuda/cudnn_conv_graph.h"
#include "backend/cuda/cudnn_graph.h"
#include "backend/cuda/cudnn_sdpa.h"

namespace sdpp::cuda {
namespace {

TEST(CudnnGraph, SdpaOperationsOfTheUNetsAttentionsFinalize) {
  if (!cudnn_sdpa_version()) GTEST_SKIP() << "the loaded cuDNN has no SDPA operation (9.13.1+)";
  struct Case {
    const char* name;
    SdpaShape shape;
  };
  // q, k and v read in place from the stacked projections: rows 3*H*D (self) or 2*H*D (cross) elements apart.
  for (const Case& c : {Case{"sd15 64x64 self", {2, 8, 4096, 4096, 40, 960, 960, DType::F16}},
                        Case{"sd15 64x64 cross", {2, 8, 4096, 77, 40, 320, 640, DType::F16}},
                        Case{"sd15 32x32 self", {2, 8, 1024, 1024, 80, 1920, 1920, DType::F16}},
                        Case{"sdxl 64x64 self", {2, 10, 4096, 4096, 64, 1920, 1920, DType::BF16}},
                        Case{"sdxl 32x32 cross", {2, 20, 1024, 77, 64, 1280, 2560, DType::F16}}}) {
    SCOPED_TRACE(c.name);
    CudnnDescriptors ds;
    std::string why;
    EXPECT_NE(cudnn_sdpa_operation(ds, c.shape, &why), nullptr) << why;
  }
}

TEST(CudnnGraph, SdpaOperationRefusesF32ByName) {
  CudnnDescriptors ds;
  std::string why;
  EXPECT_EQ(cudnn_sdpa_operation(ds, {1, 2, 16, 16, 64, 128, 128, DType::F32}, &why), nullptr);
  EXPECT_FALSE(why.empty());
}

TEST(CudnnGraph, ConvolutionOperationsOfTheUNetFinalize) {
  struct Case {
    const char* name;
    ConvGraphShape shape;
  };
  for (const Case& c : {Case{"64x64 3x3", {2, 320, 64, 64, 320, 3, 3, 64, 64, 1, 1, 1, DType::F16}},
                        Case{"8x8 3x3", {2, 2560, 8, 8, 1280, 3, 3, 8, 8, 1, 1, 1, DType::F16}},
                        Case{"downsample", {2, 640, 32, 32, 640, 3, 3, 16, 16, 2, 1, 1, DType::BF16}}}) {
    SCOPED_TRACE(c.name);
    CudnnDescriptors ds;
    std::string why;
    EXPECT_NE(cudnn_conv_forward_operation(ds, c.shape, &why), nullptr) << why;
  }
}

// A bad descriptor comes back as null with cuDNN's reason, which the planners pass on, not as a crash.
TEST(CudnnGraph, ARefusedTensorGivesItsReason) {
  CudnnDescriptors ds;
  const std::array<int64_t, 4> dims{2, -8, 16, 16}, strides{2048, 1, 128, 8};
  EXPECT_EQ(cudnn_tensor(ds, 1, CUDNN_DATA_HALF, dims, strides), nullptr);
  EXPECT_FALSE(ds.error().empty());
  std::string why;
  EXPECT_EQ(cudnn_conv_forward_operation(ds, {2, 8, 16, 16, 8, 3, 3, 0, 16, 1, 1, 1, DType::F16}, &why), nullptr);
  EXPECT_FALSE(why.empty());
}

}  // namespace
}  // namespace sdpp::cuda
#endif
