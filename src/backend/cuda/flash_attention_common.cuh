// Helpers shared by the fused attention kernels (flash_attention.cu, flash_attention_sm90.cu): cp.async copies into
// shared memory, packing f32 pairs into the f16/bf16 pairs tensor-core operands take, and the host-side opt-in to
// large dynamic shared memory.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cstdint>

#include "backend/cuda/cuda_check.h"

namespace sdpp::cuda {

__device__ __forceinline__ unsigned smem_addr(const void* p) { return unsigned(__cvta_generic_to_shared(p)); }

// 16 bytes global -> shared; src_bytes 0 writes zeros without reading (out-of-range rows).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

template <class T>
__device__ __forceinline__ unsigned pack2(float lo, float hi);
template <>
__device__ __forceinline__ unsigned pack2<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<unsigned*>(&h);
}
template <>
__device__ __forceinline__ unsigned pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<unsigned*>(&h);
}

// Over 48 KB of dynamic shared memory must be opted into, once per kernel and device; `configured` (a static of the
// caller, one per kernel) remembers the device indices done.
template <class Kernel>
void allow_dynamic_shared_memory(Kernel* kernel, int bytes, std::atomic<uint64_t>& configured) {
  int device = 0;
  SDPP_CUDA_CHECK(cudaGetDevice(&device));
  const uint64_t bit = uint64_t(1) << (device & 63);
  if (configured.load() & bit) return;
  SDPP_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  configured.fetch_or(bit);
}

}  // namespace sdpp::cuda
