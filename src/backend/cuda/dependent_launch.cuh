// Programmatic dependent launch (Hopper and later). A kernel started by launch_dependent() may be scheduled while the
// kernel before it on the stream is still finishing (its last blocks, its memory flush), rather than only after that
// kernel has completed and a launch latency has passed: in a recorded UNet step, where hundreds of short kernels
// follow one another, those gaps add up. The contract: such a kernel calls wait_for_prior_kernel() in every block
// before it reads or writes memory and before any early return; that call also lets the kernel after it be scheduled.
// Elsewhere (older GPUs, SDPP_CUDA_PDL=0) the launch is an ordinary one and the call does nothing.
#pragma once
#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/cuda_check.h"

namespace sdpp::cuda {

__device__ __forceinline__ void wait_for_prior_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

bool dependent_launch_enabled();  // on this device, and not switched off by SDPP_CUDA_PDL=0

// With `cluster` (x * y * z > 1), blocks are launched in thread-block clusters of that shape (Hopper and later).
template <class... Params, class... Args>
void launch_dependent_clustered(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, dim3 cluster,
                                cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attributes[2]{};
  attributes[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[0].val.programmaticStreamSerializationAllowed = dependent_launch_enabled() ? 1 : 0;
  attributes[1].id = cudaLaunchAttributeClusterDimension;
  attributes[1].val.clusterDim.x = cluster.x;
  attributes[1].val.clusterDim.y = cluster.y;
  attributes[1].val.clusterDim.z = cluster.z;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = attributes;
  config.numAttrs = cluster.x * cluster.y * cluster.z > 1 ? 2 : 1;
  SDPP_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

template <class... Params, class... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                      Args&&... args) {
  launch_dependent_clustered(kernel, grid, block, shared_bytes, dim3(1, 1, 1), stream, std::forward<Args>(args)...);
}

}  // namespace sdpp::cuda
