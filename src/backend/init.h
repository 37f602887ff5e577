// Registers every backend compiled into this build (cuda when SDPP_WITH_CUDA). Call once from main() / test main.
#pragma once
#include <string>

namespace sdpp {
void init_backends();
// Number of usable CUDA devices (0 in a cpu-only build or without a driver/GPU).
int cuda_device_count();
// For tests: which NHWC convolution implementation the cuda backends' plans use from now on: "timed" (the faster per
// shape, the default), "cudnn" or "gemm" (im2col + cuBLASLt). Drops cached plans. No-op without a CUDA device.
void set_cuda_conv_path(const std::string& path);
// For tests and benchmarks: which fused attention kernel f16/bf16 attention uses from now on: "auto" (the wgmma
// kernel on sm_90 where it covers the head dim, the default) or "mma" (the mma.sync kernel everywhere). No-op without
// a CUDA build.
void set_cuda_attention_kernel(const std::string& kernel);
}  // namespace sdpp
