// Fused attention through cuDNN's SDPA engines: one SDPA_FWD operation of the backend graph API (cuDNN >= 9.13.1),
// planned once per shape. cuDNN's Hopper attention kernels are FlashAttention-3's design (TMA loads, warp-specialised
// producer and consumer warpgroups), which the backend's own wgmma kernel only approaches (on an H100, SD 1.5's
// 4096-token self-attention 0.145 against 0.193 ms, SDXL's 0.166 against 0.372 ms). The backend times both on each new
// large shape and keeps the faster (CudaBackend::fused_attention); SDPP_CUDA_CUDNN_ATTENTION=0 leaves cuDNN out.
#pragma once
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/cudnn_graph.h"
#include "core/dtype.h"

namespace sdpp::cuda {

// Attention of q [B, Lq, H*D] against k, v [B, Lk, H*D] into out [B, Lq, H*D] (contiguous), rows of q and of k/v
// q_stride / kv_stride elements apart (packed projections read in place), f16 or bf16, no mask.
struct SdpaShape {
  int64_t batch = 0, heads = 0, lq = 0, lk = 0, head_dim = 0, q_stride = 0, kv_stride = 0;
  DType dtype = DType::F16;
  auto key() const { return std::make_tuple(batch, heads, lq, lk, head_dim, q_stride, kv_stride, int(dtype)); }
};

class CudnnSdpaPlan {
 public:
  // Plans of cuDNN's first `limit` engine configurations for `shape`, best ranked first (cuDNN compiles each plan's
  // kernels as it is made); empty, with the reason in `why`, when there are none (cuDNN too old for the operation,
  // a shape its engines refuse).
  static std::vector<std::unique_ptr<CudnnSdpaPlan>> candidates(cudnnHandle_t handle, const SdpaShape& shape,
                                                                int limit, std::string* why);

  int64_t workspace_bytes() const { return plan_->workspace_bytes(); }
  // Enqueues the attention on the handle's stream; throws an sdpp::Error if cuDNN refuses the call.
  void run(cudnnHandle_t handle, const void* q, const void* k, const void* v, void* out, float scale,
           void* workspace) const;

 private:
  explicit CudnnSdpaPlan(std::unique_ptr<CudnnExecutionPlan> plan) : plan_(std::move(plan)) {}
  std::unique_ptr<CudnnExecutionPlan> plan_;
};

// The finalized SDPA_FWD operation of `shape` (q, k, v, out and a by-value scale as its tensors), or null with the
// reason in `why`. Needs no device (tests check the descriptors cuDNN accepts without one).
cudnnBackendDescriptor_t cudnn_sdpa_operation(CudnnDescriptors& ds, const SdpaShape& shape, std::string* why);

// cudnnGetVersion() of the loaded library when it has the SDPA_FWD operation (9.13.1 and later, built against headers
// that declare it), else 0.
int cudnn_sdpa_version();

}  // namespace sdpp::cuda
