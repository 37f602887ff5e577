// Ordering helpers around Hopper's asynchronous warpgroup MMAs (wgmma_ops.cuh): shared-memory matrix descriptors, the
// fence / commit / wait of wgmma groups, the proxy fence between generic writes and wgmma reads, and register fences
// that keep the compiler's hands off in-flight operands.
#pragma once
#include <cstdint>

#include "backend/cuda/flash_attention_common.cuh"

namespace sdpp::cuda {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Shared-memory matrix descriptor without swizzle: start address, leading-dimension byte offset (between core
// matrices along K) and stride-dimension byte offset (along M/N), each in 16-byte units.
__device__ __forceinline__ uint64_t smem_desc(const void* p, uint32_t lbo, uint32_t sbo) {
  const uint64_t addr = smem_addr(p);
  return ((addr & 0x3FFFF) >> 4) | (uint64_t((lbo >> 4) & 0x3FFF) << 16) | (uint64_t((sbo >> 4) & 0x3FFF) << 32);
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Generic-proxy writes (st.shared, cp.async) must be fenced before wgmma reads them through the async proxy.
__device__ __forceinline__ void fence_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// Keep the compiler from moving reads or writes of wgmma operands (accumulators, A registers) across an in-flight
// wgmma, or from reusing an A register before the wgmma reading it has finished.
template <int N>
__device__ __forceinline__ void fence_registers(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void fence_registers(unsigned (&r)[N][2]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i][0]), "+r"(r[i][1])::"memory");
}
#endif

}  // namespace sdpp::cuda
