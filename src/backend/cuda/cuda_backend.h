// The CUDA backend: f16/bf16 storage, f32 accumulation; cuBLASLt GEMMs, cuDNN / own convolutions (NHWC), fused
// attention and normalisation kernels. Registered by init_backends() when a device is visible.
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"

namespace sdpp {
std::unique_ptr<Backend> make_cuda_backend(int index);
int cuda_visible_device_count();  // 0 when no driver or device (never throws)
// See set_cuda_conv_path (backend/init.h); `backend` must be a cuda backend.
void set_conv_path(Backend& backend, const std::string& path);
// See set_cuda_attention_kernel (backend/init.h); process-wide.
void set_attention_kernel(const std::string& kernel);
// See set_cuda_group_norm_kernel (backend/init.h); process-wide.
void set_group_norm_kernel(const std::string& kernel);
// See cuda_cudnn_attention_version (backend/init.h).
int cudnn_attention_version();
}  // namespace sdpp
