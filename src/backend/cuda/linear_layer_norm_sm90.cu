// A transformer block's projection and the layer norm after it in one Hopper kernel:
//   out    [M, N] = x W^T + b (+ residual)                       (the block's residual stream)
//   normed [M, N] = layer_norm(out) * gamma + beta, over each row  (the next sublayer's input)
// In diffusers' BasicTransformerBlock every LayerNorm follows such a projection (proj_in before norm1, attn1's to_out
// before norm2, attn2's to_out before norm3, a block's ff output before the next block's norm1). Separately, the norm
// re-reads the row the GEMM just wrote and launches once more: 48 calls, about 0.16 ms of SD 1.5's 5.2 ms step (H100).
//
// A block owns 64 whole rows, or, in a cluster of N / BN blocks, BN columns of them: the epilogue holds every value a
// row's statistics need, and a cluster adds its blocks' per-row sums through distributed shared memory. Two warpgroups
// split the block's columns; each runs one wgmma of 64 rows x BN / 2 columns a k16 step. Operands arrive by TMA through
// STAGES stages of 64 K, guarded by "full" and "empty" mbarriers, stored with the 128-byte swizzle and read K-major (as
// in linear_geglu_sm90.cu). The weights do not depend on the kernel before, so the first stages' weight copies are
// issued before the wait for it (dependent launch).
//
// Whole rows rather than cuBLASLt's tiles also read less: at SD 1.5's 64x64 level (M 8192, N = K = 320) a block
// reads its 40 KB of x and all 200 KB of W once, where 64 x 192 tiles read x twice and W 1.4 times over. Measured
// slower and not kept (docs/PERFORMANCE.md, twenty-second session): pairs of row blocks in a cluster, each loading
// half of every weight stage and multicasting it to both (0.0137 against 0.0088 ms at that shape, H100).
//
// The epilogue goes through shared memory both ways: the residual tile arrives by TMA while the products run, and both
// outputs are staged in the then idle stages and leave as TMA stores. (Each thread's fragment spans 8 rows, so direct
// loads and stores touch 8 lines an instruction: 16.5 us a call at SD 1.5's 64x64 level, against 12.2 us for
// cuBLASLt and the separate norm, H100.) The statistics are taken over the values as stored (rounded to f16/bf16), in
// two passes (mean, then the variance around it) over registers, as the separate layer norm kernel reads them.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cstdint>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/flash_attention_common.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/tma_ops.cuh"
#include "backend/cuda/wgmma_k_loop.cuh"
#include "backend/cuda/wgmma_sync.cuh"

namespace sdpp::cuda {
namespace {

constexpr int kThreads = 256;  // two warpgroups
constexpr int kBM = 64;        // rows a block
constexpr int kBK = 64;        // K a stage: one 128-byte row of f16/bf16, the width of the 128-byte swizzle
constexpr int kBoxRows = 160;  // weight rows a TMA box (a box spans at most 256)
// The residual and output tiles move as boxes of [64 rows][32 columns] with the 64-byte swizzle: a box's 16-byte
// chunk c of row r sits at chunk c ^ (r / 2 % 4), so the 8 rows a fragment's store spans fall on distinct banks.
constexpr int kTileBox = 32;
constexpr int kTileBoxBytes = kBM * kTileBox * 2;

// BN columns a block, CLUSTER blocks a row (N = BN * CLUSTER), STAGES stages (launch_for_width: one block a
// multiprocessor at N 320, two fit at 640).
template <int BN, int CLUSTER, int STAGES>
struct Shape {
  static constexpr int kWgColumns = BN / 2;
  static constexpr int kABytes = kBM * 128;
  static constexpr int kStageBytes = kABytes + BN * 128;
  static constexpr int kTileBytes = kBM * BN * 2;  // the block's share of one [M, N] tensor
  // 1024 bytes of slack to align the stages to the swizzle's pattern, the stages (after the products: both outputs'
  // staging), the residual tile, the bias, gamma and beta of the block's columns (f32), the per-row partial sums of
  // both passes (two warpgroups x 64 rows each), the mbarriers (the stages' full and empty ones, the residual's).
  static constexpr int kSharedBytes = 1024 + STAGES * kStageBytes + kTileBytes + 3 * BN * int(sizeof(float)) +
                                      2 * 2 * kBM * int(sizeof(float)) + (2 * STAGES + 1) * int(sizeof(uint64_t));
  static_assert(BN % kBoxRows == 0 && BN % kTileBox == 0 && kWgColumns % 16 == 0);
  static_assert(2 * kTileBytes <= STAGES * kStageBytes, "both outputs are staged in the stages");
};

template <class T>
__device__ __forceinline__ float2 unpack2(unsigned v) {
  const T* p = reinterpret_cast<const T*>(&v);
  return make_float2(to_f32(p[0]), to_f32(p[1]));
}

template <class T, int BN, int CLUSTER, int STAGES>
__global__ void __launch_bounds__(kThreads, 1)
    linear_layer_norm_kernel(const __grid_constant__ CUtensorMap x_map, const __grid_constant__ CUtensorMap w_map,
                             const __grid_constant__ CUtensorMap residual_map,
                             const __grid_constant__ CUtensorMap out_map,
                             const __grid_constant__ CUtensorMap normed_map, const T* __restrict__ bias,
                             bool has_residual, const T* __restrict__ gamma, const T* __restrict__ beta, int k_tiles,
                             float eps) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using S = Shape<BN, CLUSTER, STAGES>;
  constexpr int WN = S::kWgColumns, J = WN / 8, A_BYTES = S::kABytes, STAGE = S::kStageBytes, TILE = S::kTileBytes;
  constexpr int N = BN * CLUSTER;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((1024 - smem_addr(smem_raw) % 1024) % 1024);
  unsigned char* residual_tile = smem + STAGES * STAGE;
  float* params = reinterpret_cast<float*>(residual_tile + TILE);  // [bias, gamma, beta][BN]
  float* row_sum = params + 3 * BN;                                 // [2 warpgroups][64 rows]
  float* row_sq = row_sum + 2 * kBM;                                 // the same for the squared deviations
  uint64_t* full = reinterpret_cast<uint64_t*>(row_sq + 2 * kBM);
  uint64_t* empty = full + STAGES;
  uint64_t* residual_full = empty + STAGES;

  const int tid = threadIdx.x, wg = tid / 128, warp = tid % 128 / 32, lane = tid % 32;
  const int g = lane / 4, tq = lane % 4;
  const int n0 = int(blockIdx.x) * BN, m0 = int(blockIdx.y) * kBM;

  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbarrier_init(&full[s], 1);
      mbarrier_init(&empty[s], kThreads / 32);
    }
    mbarrier_init(residual_full, 1);
    fence_mbarrier_init();
  }
  for (int i = tid; i < BN; i += kThreads) {  // weights, which no kernel before writes
    params[i] = bias ? to_f32(bias[n0 + i]) : 0.0f;
    params[BN + i] = to_f32(gamma[n0 + i]);
    params[2 * BN + i] = to_f32(beta[n0 + i]);
  }
  __syncthreads();

  auto load_weights = [&](int t) {  // thread 0: the stage's expected bytes, then its weight boxes
    const int stage = t % STAGES;
    mbarrier_arrive_expect_tx(&full[stage], unsigned(STAGE));
    unsigned char* b = smem + stage * STAGE + A_BYTES;
#pragma unroll
    for (int box = 0; box < BN / kBoxRows; ++box)
      tma_load_2d(b + box * kBoxRows * 128, &w_map, &full[stage], t * kBK, n0 + box * kBoxRows);
  };
  auto load_x = [&](int t) { tma_load_2d(smem + (t % STAGES) * STAGE, &x_map, &full[t % STAGES], t * kBK, m0); };
  const int prologue = k_tiles < STAGES ? k_tiles : STAGES;
  if (tid == 0)
    for (int t = 0; t < prologue; ++t) load_weights(t);
  wait_for_prior_kernel();  // x, the residual and the outputs belong to the kernels before
  if (tid == 0) {
    for (int t = 0; t < prologue; ++t) load_x(t);
    if (has_residual) {
      mbarrier_arrive_expect_tx(residual_full, unsigned(TILE));
#pragma unroll
      for (int box = 0; box < BN / kTileBox; ++box)
        tma_load_2d(residual_tile + box * kTileBoxBytes, &residual_map, residual_full, n0 + box * kTileBox, m0);
    }
  }
  __syncwarp();

  float acc[WN / 2];  // 64 rows x WN columns over 128 threads
#pragma unroll
  for (int i = 0; i < WN / 2; ++i) acc[i] = 0.0f;
  const uint64_t a_desc0 = sw128_desc(smem);
  const uint64_t b_desc0 = sw128_desc(smem + A_BYTES + wg * WN * 128);
  wgmma_k_loop<T, WN, STAGES, STAGE>(acc, a_desc0, b_desc0, full, empty, 0, k_tiles, k_tiles, tid, lane, [&](int next) {
    load_weights(next);
    load_x(next);
  });

  // acc[4 j + 2 r + e]: row warp * 16 + g + 8 r of the block's 64, column 8 j + 2 tq + e of the warpgroup's WN.
  const int local_row[2] = {warp * 16 + g, warp * 16 + g + 8};
  const int col0 = wg * WN + 2 * tq;  // of the block's BN
  // The byte offset of element (row, col), col even, of a staged [64, BN] tile, as the swizzled TMA boxes lay it out.
  auto tile_offset = [](int row, int col) {
    const int byte = (col % kTileBox) * 2;
    return (col / kTileBox) * kTileBoxBytes + row * kTileBox * 2 + (((byte >> 4) ^ (row >> 1 & 3)) << 4) + (byte & 15);
  };
  __syncthreads();  // both warpgroups' products are done: the stages become the outputs' staging
  unsigned char* staged_out = smem;
  unsigned char* staged_normed = smem + TILE;
  if (has_residual) mbarrier_wait(residual_full, 0);
  float sum[2] = {0.0f, 0.0f};
#pragma unroll
  for (int j = 0; j < J; ++j) {
    const int col = col0 + 8 * j;
    const float2 b = *reinterpret_cast<const float2*>(params + col);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int at = tile_offset(local_row[r], col);
      const float2 rv = has_residual ? unpack2<T>(*reinterpret_cast<const unsigned*>(residual_tile + at))
                                     : make_float2(0.0f, 0.0f);
      const unsigned stored = pack2<T>(acc[4 * j + 2 * r] + b.x + rv.x, acc[4 * j + 2 * r + 1] + b.y + rv.y);
      const float2 v = unpack2<T>(stored);  // the statistics see what is stored
      acc[4 * j + 2 * r] = v.x;
      acc[4 * j + 2 * r + 1] = v.y;
      sum[r] += v.x + v.y;
      *reinterpret_cast<unsigned*>(staged_out + at) = stored;
    }
  }
  fence_async_shared();  // the staged output is read by the TMA store after the barrier in row_total
  auto store_tile = [&](const CUtensorMap* map, const unsigned char* staged) {  // thread 0; rows past M: not written
#pragma unroll
    for (int box = 0; box < BN / kTileBox; ++box)
      tma_store_2d(map, staged + box * kTileBoxBytes, n0 + box * kTileBox, m0);
    tma_store_commit();
  };

  // A row's total over its quad (the 4 threads sharing it), both warpgroups and the cluster's blocks, in a fixed order.
  auto row_total = [&](float (&part)[2], float* shared) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      part[r] += __shfl_xor_sync(0xffffffffu, part[r], 1);
      part[r] += __shfl_xor_sync(0xffffffffu, part[r], 2);
      if (tq == 0) shared[wg * kBM + local_row[r]] = part[r];
    }
    if constexpr (CLUSTER > 1)
      cluster_sync();
    else
      __syncthreads();
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float total = 0.0f;
      if constexpr (CLUSTER > 1) {
#pragma unroll
        for (int rank = 0; rank < CLUSTER; ++rank)
          total += load_shared_cluster_f32(&shared[local_row[r]], unsigned(rank)) +
                   load_shared_cluster_f32(&shared[kBM + local_row[r]], unsigned(rank));
      } else {
        total = shared[local_row[r]] + shared[kBM + local_row[r]];
      }
      part[r] = total;
    }
  };
  row_total(sum, row_sum);
  if (tid == 0) store_tile(&out_map, staged_out);
  const float mean[2] = {sum[0] / float(N), sum[1] / float(N)};
  float sq[2] = {0.0f, 0.0f};
#pragma unroll
  for (int j = 0; j < J; ++j)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float d0 = acc[4 * j + 2 * r] - mean[r], d1 = acc[4 * j + 2 * r + 1] - mean[r];
      sq[r] += d0 * d0 + d1 * d1;
    }
  row_total(sq, row_sq);
  const float rstd[2] = {rsqrtf(sq[0] / float(N) + eps), rsqrtf(sq[1] / float(N) + eps)};
#pragma unroll
  for (int j = 0; j < J; ++j) {
    const int col = col0 + 8 * j;
    const float2 gm = *reinterpret_cast<const float2*>(params + BN + col);
    const float2 bt = *reinterpret_cast<const float2*>(params + 2 * BN + col);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float y0 = (acc[4 * j + 2 * r] - mean[r]) * rstd[r] * gm.x + bt.x;
      const float y1 = (acc[4 * j + 2 * r + 1] - mean[r]) * rstd[r] * gm.y + bt.y;
      *reinterpret_cast<unsigned*>(staged_normed + tile_offset(local_row[r], col)) = pack2<T>(y0, y1);
    }
  }
  fence_async_shared();
  __syncthreads();
  if (tid == 0) {
    store_tile(&normed_map, staged_normed);
    tma_store_wait_read();  // the block's shared memory must outlive the stores' reads
  }
  if constexpr (CLUSTER > 1) cluster_sync();  // no block leaves while another may still read its sums
#else
  __trap();  // launch_linear_layer_norm_sm90 only launches this where sm_90a code was compiled
#endif
}

// The residual and output tiles' map: [64 rows][32 columns] boxes with the 64-byte swizzle, as the epilogue stages
// them.
bool encode_tile_map(CUtensorMap* map, const void* base, DType dtype, int64_t m, int64_t n) {
  return encode_row_boxes(map, base, dtype, m, n, kTileBox, kBM, CU_TENSOR_MAP_SWIZZLE_64B);
}

struct Maps {
  CUtensorMap x, w, residual, out, normed;
};

template <class T, int BN, int CLUSTER, int STAGES>
void launch(const Maps& maps, const LinearLayerNormArgs& a, cudaStream_t stream) {
  const auto kernel = linear_layer_norm_kernel<T, BN, CLUSTER, STAGES>;
  constexpr int bytes = Shape<BN, CLUSTER, STAGES>::kSharedBytes;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_shared_memory(kernel, bytes, configured);
  const dim3 grid(unsigned(CLUSTER), unsigned((a.m + kBM - 1) / kBM));
  launch_dependent_clustered(kernel, grid, dim3(kThreads), bytes, dim3(CLUSTER, 1, 1), stream, maps.x, maps.w,
                             maps.residual, maps.out, maps.normed, static_cast<const T*>(a.bias), a.residual != nullptr,
                             static_cast<const T*>(a.gamma), static_cast<const T*>(a.beta),
                             int((a.k + kBK - 1) / kBK), a.eps);
}

template <class T>
bool launch_for_width(const Maps& maps, const LinearLayerNormArgs& a, cudaStream_t stream) {
  switch (a.n) {
    case 320: launch<T, 320, 1, 3>(maps, a, stream); return true;  // 144 KB of stages
    // 84 KB of stages: two blocks fit a multiprocessor, so all 32 clusters of SD 1.5's 32x32 level run at once (with
    // four stages, 30 did: the last two ran after them, 19.6 us against 9.5 us for cuBLASLt and the separate norm).
    case 640: launch<T, 160, 4, 3>(maps, a, stream); return true;
    default: return false;
  }
}

}  // namespace

bool linear_layer_norm_sm90_takes(DType dtype, int64_t m, int64_t k, int64_t n) {
#if defined(SDPP_CUDA_SM90A)
  // Widths with a tiling here; rows 16-byte aligned for the copies; coordinates and row blocks within the grid.
  return (dtype == DType::F16 || dtype == DType::BF16) && (n == 320 || n == 640) && k % 8 == 0 && k > 0 &&
         k <= INT32_MAX && m >= 1 && m / kBM < 65535;
#else
  (void)dtype, (void)m, (void)k, (void)n;
  return false;
#endif
}

bool launch_linear_layer_norm_sm90(const LinearLayerNormArgs& a, DType dtype, cudaStream_t stream) {
#if defined(SDPP_CUDA_SM90A)
  if (!linear_layer_norm_sm90_takes(dtype, a.m, a.k, a.n)) return false;
  if (!a.gamma || !a.beta || !a.out || !a.normed) return false;
  for (const void* p : {a.x, a.weight, a.residual, static_cast<const void*>(a.out), static_cast<const void*>(a.normed)})
    if (!aligned16(p)) return false;  // every operand a TMA copy
  Maps maps{};
  if (!encode_swizzled_rows(&maps.x, a.x, dtype, a.m, a.k, kBM) ||
      !encode_swizzled_rows(&maps.w, a.weight, dtype, a.n, a.k, kBoxRows) ||
      (a.residual && !encode_tile_map(&maps.residual, a.residual, dtype, a.m, a.n)) ||
      !encode_tile_map(&maps.out, a.out, dtype, a.m, a.n) || !encode_tile_map(&maps.normed, a.normed, dtype, a.m, a.n))
    return false;
  return dtype == DType::F16 ? launch_for_width<__half>(maps, a, stream)
                             : launch_for_width<__nv_bfloat16>(maps, a, stream);
#else
  (void)a, (void)dtype, (void)stream;
  return false;
#endif
}

}  // namespace sdpp::cuda
