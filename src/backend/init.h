// Registers every backend compiled into this build (cuda when SDPP_WITH_CUDA). Call once from main() / test main.
#pragma once
#include <string>

namespace sdpp {
void init_backends();
// Whether this build has the CUDA backend (its device-free parts, like the kernel choices below, then work without
// a GPU).
bool cuda_backend_compiled();
// Number of usable CUDA devices (0 in a cpu-only build or without a driver/GPU).
int cuda_device_count();
// For tests: which NHWC convolution implementation the cuda backends' plans use from now on: "timed" (the faster per
// shape, the default; cuDNN's graph API competes too with SDPP_CUDA_CUDNN_GRAPH_CONV=1), "cudnn" (legacy API),
// "gemm" (im2col + cuBLASLt), "graph" (cuDNN's graph API for f16/bf16; a shape it cannot plan is an error), "own"
// (the own split-K kernel for 3x3 convolutions of small images on Hopper where it applies, the timed choice elsewhere;
// SDPP_CUDA_OWN_CONV=0 leaves it out of the timed choice) or "narrow" (the own kernel for 3x3 convolutions of at most
// 8 outputs where it applies, cuDNN or im2col + cuBLASLt elsewhere; SDPP_CUDA_NARROW_CONV=0 leaves it out of the
// timed choice). Drops cached plans. No-op without a CUDA device.
void set_cuda_conv_path(const std::string& path);
// For tests and benchmarks: which fused attention kernel f16/bf16 attention uses from now on: "own" (the wgmma kernel
// on sm_90 where it covers the head dim, else the mma.sync one), "mma" (the mma.sync kernel everywhere), "timed" (per
// shape of at least 2^20 query-key pairs a head, the faster of cuDNN's SDPA engine and the own kernels, timed on the
// shape's first call; the own kernels on smaller ones), "cudnn" (cuDNN for every unmasked f16/bf16 attention; a shape
// it has no plan for is an error) or "auto" (the process default: "timed", or "own" with SDPP_CUDA_CUDNN_ATTENTION=0).
// No-op without a CUDA build.
void set_cuda_attention_kernel(const std::string& kernel);
// For tests: which forms channels-last group norm may take from now on: "small" (one kernel where a group of a sample
// fits a block's registers, the group shared by a cluster of blocks where one block a group would leave
// multiprocessors idle; three kernels elsewhere), "single" (as "small", one block a group only), "cluster" (as
// "small", and larger groups over a cluster of up to 8 blocks), "split" (the three kernels everywhere), "resident" (one
// kernel with a grid-wide barrier wherever the tensor fits the multiprocessors' shared memory, else as "small") or
// "default" ("split" with SDPP_CUDA_GN_SMALL=0, "resident" with SDPP_CUDA_GN_RESIDENT=all, "single" with
// SDPP_CUDA_GN_CLUSTER=0, "cluster" with SDPP_CUDA_GN_CLUSTER=large, else "small"). All but "split" and "resident"
// take the resident form where their own does not apply when SDPP_CUDA_GN_RESIDENT=1. No-op without a CUDA build.
void set_cuda_group_norm_kernel(const std::string& kernel);
// The loaded cuDNN's version (e.g. 91900) when it has the SDPA operation "cudnn" attention needs, else 0.
int cuda_cudnn_attention_version();
}  // namespace sdpp
