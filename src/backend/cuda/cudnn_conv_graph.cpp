#include "backend/cuda/cudnn_conv_graph.h"

#include <array>

#include "core/error.h"

namespace sdpp::cuda {
namespace {

enum Uid : int64_t { kX = 1, kW, kY };

// [n, c, h, w] dims over channels-last data.
cudnnBackendDescriptor_t nhwc(CudnnDescriptors& ds, int64_t uid, cudnnDataType_t type, int64_t n, int64_t c,
                              int64_t h, int64_t w) {
  const std::array<int64_t, 4> dims{n, c, h, w}, strides{h * w * c, 1, w * c, c};
  return cudnn_tensor(ds, uid, type, dims, strides);
}

}  // namespace

cudnnBackendDescriptor_t cudnn_conv_forward_operation(CudnnDescriptors& ds, const ConvGraphShape& s, std::string* why) {
  if (s.dtype != DType::F16 && s.dtype != DType::BF16) {
    if (why) *why = "graph-planned convolutions take f16 or bf16";
    return nullptr;
  }
  const cudnnDataType_t type = cudnn_data_type(s.dtype);
  cudnnBackendDescriptor_t x = nhwc(ds, kX, type, s.n, s.c, s.h, s.w);
  cudnnBackendDescriptor_t w = nhwc(ds, kW, type, s.k, s.c, s.r, s.s);  // KRSC is NHWC's layout for [k, c, r, s]
  cudnnBackendDescriptor_t y = nhwc(ds, kY, type, s.n, s.k, s.ho, s.wo);
  cudnnBackendDescriptor_t conv = ds.make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const cudnnDataType_t accumulate = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t spatial = 2;
  const std::array<int64_t, 2> dilations{1, 1}, strides{s.stride, s.stride}, pads{s.pad_h, s.pad_w};
  ds.set(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &accumulate);
  ds.set(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, &mode);
  ds.set(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, &spatial);
  ds.set(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, dilations.data(), 2);
  ds.set(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, strides.data(), 2);
  ds.set(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, pads.data(), 2);
  ds.set(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, pads.data(), 2);
  ds.finalize(conv, "convolution");
  cudnnBackendDescriptor_t op = ds.make(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  const float alpha = 1.0f, beta = 0.0f;
  ds.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, &x);
  ds.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, &w);
  ds.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, &y);
  ds.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &conv);
  ds.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, &alpha);
  ds.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, &beta);
  if (ds.finalize(op, "convolution forward operation")) return op;
  if (why) *why = ds.error();
  return nullptr;
}

std::vector<std::unique_ptr<CudnnConvGraphPlan>> CudnnConvGraphPlan::candidates(cudnnHandle_t handle,
                                                                                const ConvGraphShape& s, int limit,
                                                                                int64_t max_workspace,
                                                                                std::string* why) {
  std::vector<std::unique_ptr<CudnnConvGraphPlan>> plans;
  auto ds = std::make_shared<CudnnDescriptors>();
  cudnnBackendDescriptor_t op = cudnn_conv_forward_operation(*ds, s, why);
  if (!op) return plans;
  // Ranked further than `limit`: configurations whose workspace is too large are passed over, not counted.
  constexpr bool allow_runtime_compilation = false;  // a compilation per shape would lengthen the first image
  for (cudnnBackendDescriptor_t config :
       cudnn_engine_configs(*ds, handle, op, 4 * limit, allow_runtime_compilation, why)) {
    if (int(plans.size()) == limit) break;
    auto plan = CudnnExecutionPlan::create(ds, handle, config, plans.empty() ? why : nullptr);
    if (plan && plan->workspace_bytes() <= max_workspace)
      plans.push_back(std::unique_ptr<CudnnConvGraphPlan>(new CudnnConvGraphPlan(std::move(plan))));
  }
  if (plans.empty() && why && why->empty()) *why = "every engine configuration wants more workspace than offered";
  return plans;
}

void CudnnConvGraphPlan::run(cudnnHandle_t handle, const void* x, const void* w, void* y, void* workspace) const {
  const std::array<int64_t, 3> uids{kX, kW, kY};
  const std::array<void*, 3> pointers{const_cast<void*>(x), const_cast<void*>(w), y};
  std::string why;
  if (!plan_->run(handle, uids, pointers, workspace, &why))
    throw Error(ErrorCode::Internal, "cuDNN graph convolution: " + why);
}

}  // namespace sdpp::cuda
