// Hopper's asynchronous copies (the tensor memory accelerator) and the shared-memory mbarriers they complete, the
// wgmma descriptor of the tiles they write with the 128-byte swizzle, and the cluster's barrier and shared-memory
// loads, for the own sm_90a kernels (flash_attention_sm90.cu, linear_geglu_sm90.cu, linear_layer_norm_sm90.cu,
// conv3x3_splitk_sm90.cu); and, host side, the driver's tensor-map encoder and the map of the own GEMMs' swizzled
// operand rows.
#pragma once
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/flash_attention_common.cuh"
#include "core/dtype.h"

namespace sdpp::cuda {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ void mbarrier_init(uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
// Makes the initialised barriers visible to the async proxy (the TMA unit completes transactions on them).
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbarrier_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
// Spins until the barrier's phase with the given parity has completed.
__device__ __forceinline__ void mbarrier_wait(uint64_t* bar, unsigned parity) {
  unsigned done = 0;
  do {
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(smem_addr(bar)), "r"(parity)
                 : "memory");
  } while (!done);
}
// One box of a 2-d tensor map (element, row) into shared memory; completes `bar`'s transaction bytes.
__device__ __forceinline__ void tma_load_2d(void* dst, const CUtensorMap* map, uint64_t* bar, int x, int y) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n" ::"r"(
          smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_addr(bar)), "r"(x), "r"(y)
      : "memory");
}
// The same for a 3-d map (element, row, batch).
__device__ __forceinline__ void tma_load_3d(void* dst, const CUtensorMap* map, uint64_t* bar, int x, int y, int z) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];\n" ::
          "r"(smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_addr(bar)), "r"(x), "r"(y), "r"(z)
      : "memory");
}
// The same for a 4-d map (channel, x, y, image: an NHWC activation). Coordinates may be negative or run past the end:
// those elements read as zeros, which is a convolution's zero padding.
__device__ __forceinline__ void tma_load_4d(void* dst, const CUtensorMap* map, uint64_t* bar, int c, int x, int y,
                                           int n) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6}], "
      "[%2];\n" ::"r"(smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_addr(bar)), "r"(c), "r"(x), "r"(y), "r"(n)
      : "memory");
}
// One box of shared memory to a 2-d tensor map at (element, row); the parts of a box past the tensor's end are not
// written. The issuing thread commits its stores as one bulk group (tma_store_commit) and, before the block may leave
// or reuse the memory, waits until they have read it (tma_store_wait_read). Threads that wrote the box fence their
// writes for the async proxy (fence_async_shared in wgmma_sync.cuh) before the barrier that precedes the store.
__device__ __forceinline__ void tma_store_2d(const CUtensorMap* map, const void* src, int x, int y) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(smem_addr(src)), "r"(x), "r"(y)
               : "memory");
}
__device__ __forceinline__ void tma_store_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void tma_store_wait_read() {
  asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
}

// Descriptor of a K-major operand tile stored as TMA writes it with the 128-byte swizzle: rows of 128 bytes, 8-row
// groups 1024 bytes apart (the stride-dimension offset); the leading-dimension offset is unused for this layout.
// A k16 step further along K starts 32 bytes later.
__device__ __forceinline__ uint64_t sw128_desc(const void* p) {
  return uint64_t((smem_addr(p) & 0x3FFFF) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) |
         (uint64_t(1) << 62);
}

// This block's rank in its cluster.
__device__ __forceinline__ unsigned cluster_rank() {
  unsigned rank;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
  return rank;
}
// Every thread of every block of the cluster meets here; shared-memory writes before it are visible after it.
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
// The address of `p`'s offset in the shared memory of the cluster's block `rank` (possibly this one).
__device__ __forceinline__ unsigned cluster_shared_address(const void* p, unsigned rank) {
  unsigned remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smem_addr(p)), "r"(rank));
  return remote;
}
// Four floats at `p`'s offset in the shared memory of the cluster's block `rank` (possibly this one).
__device__ __forceinline__ float4 load_shared_cluster(const float* p, unsigned rank) {
  const unsigned remote = cluster_shared_address(p, rank);
  float4 v;
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(remote)
               : "memory");
  return v;
}
// The double at `p`'s offset in the shared memory of the cluster's block `rank`.
__device__ __forceinline__ double load_shared_cluster(const double* p, unsigned rank) {
  double v;
  asm volatile("ld.shared::cluster.f64 %0, [%1];\n" : "=d"(v) : "r"(cluster_shared_address(p, rank)) : "memory");
  return v;
}
// The float at `p`'s offset in the shared memory of the cluster's block `rank`.
__device__ __forceinline__ float load_shared_cluster_f32(const float* p, unsigned rank) {
  float v;
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(cluster_shared_address(p, rank)) : "memory");
  return v;
}
#endif

// cuTensorMapEncodeTiled from the driver the runtime loaded (no link against libcuda); null where it has none.
inline PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      return PFN_cuTensorMapEncodeTiled_v12000(nullptr);
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  return encode;
}

// A row-major [rows, cols] f16/bf16 matrix as a 2-d tensor map of boxes [box_rows][box_cols] with `swizzle` (the box's
// row, box_cols * 2 bytes, at most the swizzle's width); rows past the end and columns past cols read as zeros and are
// not written. False where the driver has no encoder or refuses the map.
inline bool encode_row_boxes(CUtensorMap* map, const void* base, DType dtype, int64_t rows, int64_t cols, int box_cols,
                             int box_rows, CUtensorMapSwizzle swizzle,
                             CUtensorMapL2promotion promotion = CU_TENSOR_MAP_L2_PROMOTION_L2_128B) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = tensor_map_encoder();
  if (!encode) return false;
  const cuuint64_t dims[2] = {cuuint64_t(cols), cuuint64_t(rows)};
  const cuuint64_t strides[1] = {cuuint64_t(cols) * 2};
  const cuuint32_t box[2] = {cuuint32_t(box_cols), cuuint32_t(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  return encode(map, dtype == DType::F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2,
                const_cast<void*>(base), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle,
                promotion, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// The own GEMMs' K-major operand rows: boxes of 64 columns (128 bytes, the 128-byte swizzle's width) by `box_rows`.
inline bool encode_swizzled_rows(CUtensorMap* map, const void* base, DType dtype, int64_t rows, int64_t cols,
                                 int box_rows, CUtensorMapL2promotion promotion = CU_TENSOR_MAP_L2_PROMOTION_L2_128B) {
  return encode_row_boxes(map, base, dtype, rows, cols, 64, box_rows, CU_TENSOR_MAP_SWIZZLE_128B, promotion);
}

}  // namespace sdpp::cuda
