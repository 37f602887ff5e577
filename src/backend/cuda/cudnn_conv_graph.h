// Convolutions through cuDNN's backend graph API. The legacy API (cuda_conv.cpp) offers one kernel per algorithm enum,
// picked by cuDNN's own rules; the graph API ranks every engine configuration (tile shapes, split-K, Hopper kernels)
// for the exact shape, so the backend can time several. Channels-last data, KRSC weights, f16/bf16 with f32
// accumulation, no fused epilogue (bias and residual are a pass of their own). Opt-in (SDPP_CUDA_CUDNN_GRAPH_CONV=1:
// its tests pass on an H100, where it made the SD 1.5 step slower, cuda_conv.cpp); CudaBackend::conv_plan then times
// these candidates beside the legacy algorithms and im2col + GEMM.
#pragma once
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cudnn_graph.h"
#include "core/dtype.h"

namespace sdpp::cuda {

// x [n, c, h, w] (NHWC data) * w [k, c, r, s] (KRSC data) -> y [n, k, ho, wo] (NHWC data), symmetric padding.
struct ConvGraphShape {
  int64_t n = 0, c = 0, h = 0, w = 0, k = 0, r = 0, s = 0, ho = 0, wo = 0;
  int stride = 1, pad_h = 0, pad_w = 0;
  DType dtype = DType::F16;
};

// The finalized convolution-forward operation of `shape`, or null with the reason in `why`. Needs no device (tests
// check the descriptors cuDNN accepts without one).
cudnnBackendDescriptor_t cudnn_conv_forward_operation(CudnnDescriptors& ds, const ConvGraphShape& shape,
                                                      std::string* why);

class CudnnConvGraphPlan {
 public:
  // Plans of cuDNN's first `limit` exact engine configurations for `shape` whose workspace fits `max_workspace`,
  // best ranked first; empty, with the reason in `why`, when there are none.
  static std::vector<std::unique_ptr<CudnnConvGraphPlan>> candidates(cudnnHandle_t handle, const ConvGraphShape& shape,
                                                                     int limit, int64_t max_workspace,
                                                                     std::string* why);

  int64_t workspace_bytes() const { return plan_->workspace_bytes(); }
  // Enqueues y = conv(x, w) on the handle's stream; throws an sdpp::Error if cuDNN refuses the call.
  void run(cudnnHandle_t handle, const void* x, const void* w, void* y, void* workspace) const;

 private:
  explicit CudnnConvGraphPlan(std::unique_ptr<CudnnExecutionPlan> plan) : plan_(std::move(plan)) {}
  std::unique_ptr<CudnnExecutionPlan> plan_;
};

}  // namespace sdpp::cuda
