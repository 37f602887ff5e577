// Warp-level tensor-core operations of the mma.sync attention kernel (flash_attention.cu): ldmatrix loads of operand
// fragments from shared memory, the m16n8k16 MMA with f32 accumulators, and the exponentials and row sums of P in the
// A-operand layout.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/flash_attention_common.cuh"

namespace sdpp::cuda {

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

template <class T>
__device__ __forceinline__ void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1);
template <>
__device__ __forceinline__ void mma16816<__half>(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&d)[4], const unsigned (&a)[4], unsigned b0,
                                                        unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// exp2 of two f32 values, returned packed as two T: the A-operand layout of P. (ex2.approx.f16x2 on arguments
// rounded to f16 was tried: no faster on the H100 for SD's shapes, and 40% more error.)
template <class T>
__device__ __forceinline__ unsigned exp2_pair(float lo, float hi) {
  return pack2<T>(exp2f(lo), exp2f(hi));
}
template <class T>
__device__ __forceinline__ float sum_pair(unsigned packed);
template <>
__device__ __forceinline__ float sum_pair<__half>(unsigned packed) {
  const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&packed));
  return f.x + f.y;
}
template <>
__device__ __forceinline__ float sum_pair<__nv_bfloat16>(unsigned packed) {
  const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&packed));
  return f.x + f.y;
}

}  // namespace sdpp::cuda
