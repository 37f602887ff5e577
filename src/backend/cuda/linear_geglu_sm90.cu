// The feed-forward's first half in one kernel on Hopper: out[M, F] = (x W_h^T + b_h) * gelu(x W_g^T + b_g), where
// W [2F, K] stacks the hidden rows W_h over the gate rows W_g (diffusers' GEGLU: proj, chunk(2), hidden * gelu(gate)).
// cuBLASLt has no epilogue that multiplies two halves of its result, so there the projection writes [M, 2F] and a
// second kernel reads it back: at SD 1.5's 64x64 level 42 MB written and read again, about 22 us of a 48 us pair.
// Here the product never leaves the multiprocessor.
//
// A block computes 128 rows x BN outputs: two warpgroups of 64 rows, each one wgmma of N = 2 BN per k16 step over a
// shared-memory B tile that holds the BN hidden rows W_h[j0, j0 + BN) above the BN gate rows W_g[j0, j0 + BN). An
// output's hidden and gate sums so sit in the same thread (n8 blocks j and j + BN / 8), and the epilogue adds the
// biases, takes the GELU in f32 (fast_gelu.h's erfc fit: the results are f16/bf16) and writes the product once.
//
// The kernel is persistent: a block computes output tiles one after another, and its K tiles are numbered across them,
// so the stages are refilled with the next tile's operands while the last products and the epilogue of the current
// one run (one block a tile spent a pipeline fill per 5-tile K loop at SD 1.5's 64x64 level).
//
// Operands arrive by TMA through STAGES stages of 64 K each, guarded by "full" (copies landed) and "empty" (every
// warp's products on it done) mbarriers; thread 0 refills a stage as soon as its products have finished. A stage holds
// each tile as 128-byte rows with the TMA's 128-byte swizzle, one box a tile (the weight tile: two, hidden and gate),
// which wgmma reads K-major. The weights do not depend on the kernel before, so the first stages' weight copies are
// issued before the wait for it (dependent launch).
//
// Measured slower and not kept (docs/PERFORMANCE.md, fifteenth session): the attention kernel's unswizzled layout, a
// box per 16-byte column, so each copy read 16 bytes of every row (it lost to cuBLASLt plus the separate GEGLU at every
// SD 1.5 shape); blocks clustered along the outputs, each multicasting its share of their common x tile to the others
// (0.0678 ms with 2 blocks, 0.0995 with 4, against 0.0428 ms at SD 1.5's 64x64 level on an H100).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/flash_attention_common.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/tma_ops.cuh"
#include "backend/cuda/wgmma_k_loop.cuh"

namespace sdpp::cuda {
namespace {

constexpr int kThreads = 256;  // two warpgroups
constexpr int kBM = 128;       // rows a block
constexpr int kBK = 64;        // K a stage: one 128-byte row of f16/bf16, the width of the 128-byte swizzle
// 64 outputs a block, three stages (97 KB): two blocks share a multiprocessor, so one's epilogue and first copies run
// under the other's products. (128 outputs over four stages, one block a multiprocessor, reads the operands from L2 a
// third less often but measured slower at every SD 1.5 shape: 0.0485 against 0.0433 ms at the 64x64 level, H100.
// 256 rows over four warpgroups, persistent, one block a multiprocessor: 0.0408 against 0.0418 ms there, but the step
// did not move, so the simpler form stayed.)
constexpr int kBN = 64;
constexpr int kStages = 3;
constexpr int kBlocksPerSM = 2;
constexpr int kABytes = kBM * 128;
constexpr int kHalfBytes = kBN * 128;  // the hidden (or the gate) rows of the weight tile
constexpr int kStageBytes = kABytes + 2 * kHalfBytes;
// 1024 bytes of slack to align the stages to the swizzle's 1024-byte pattern, the stages, their mbarriers.
constexpr int kSharedBytes = 1024 + kStages * kStageBytes + 2 * kStages * int(sizeof(uint64_t));

template <class T>
__global__ void __launch_bounds__(kThreads, kBlocksPerSM)
    linear_geglu_kernel(const __grid_constant__ CUtensorMap x_map, const __grid_constant__ CUtensorMap w_map,
                        const T* __restrict__ bias, T* __restrict__ out, int m, int f, int k_tiles, int tiles) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int BN = kBN, STAGES = kStages, A_BYTES = kABytes, HALF = kHalfBytes, STAGE = kStageBytes;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((1024 - smem_addr(smem_raw) % 1024) % 1024);
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + STAGES * STAGE);
  uint64_t* empty = full + STAGES;

  const int tid = threadIdx.x, wg = tid / 128, warp = tid % 128 / 32, lane = tid % 32;
  const int g = lane / 4, tq = lane % 4;
  // Output tiles (128 rows x BN outputs, the outputs' index fastest) i = blockIdx.x + n gridDim.x: a block computes
  // one or, launched persistent, several one after another. Its K tiles are numbered across them, q = n k_tiles + k.
  const int col_blocks = f / BN;
  const int my_tiles = (tiles - int(blockIdx.x) + int(gridDim.x) - 1) / int(gridDim.x);
  const int my_k_tiles = my_tiles * k_tiles;
  auto tile_origin = [&](int n, int& m0, int& j0) {
    const int i = int(blockIdx.x) + n * int(gridDim.x);
    m0 = i / col_blocks * kBM;
    j0 = i % col_blocks * BN;
  };

  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbarrier_init(&full[s], 1);
      mbarrier_init(&empty[s], kThreads / 32);
    }
    fence_mbarrier_init();
  }
  __syncthreads();

  struct KTile {
    int stage, k, m0, j0;
  };
  auto locate = [&](int q) {  // K tile q of the block's run: its stage, its K index, its output tile's origin
    const int n = q / k_tiles;
    KTile t{q % STAGES, q - n * k_tiles, 0, 0};
    tile_origin(n, t.m0, t.j0);
    return t;
  };
  auto load_weights = [&](int q) {  // thread 0: the stage's expected bytes, then its two weight boxes
    const KTile t = locate(q);
    mbarrier_arrive_expect_tx(&full[t.stage], unsigned(STAGE));
    unsigned char* b = smem + t.stage * STAGE + A_BYTES;
    tma_load_2d(b, &w_map, &full[t.stage], t.k * kBK, t.j0);
    tma_load_2d(b + HALF, &w_map, &full[t.stage], t.k * kBK, f + t.j0);
  };
  auto load_x = [&](int q) {
    const KTile t = locate(q);
    tma_load_2d(smem + t.stage * STAGE, &x_map, &full[t.stage], t.k * kBK, t.m0);
  };
  const int prologue = my_k_tiles < STAGES ? my_k_tiles : STAGES;
  if (tid == 0)
    for (int q = 0; q < prologue; ++q) load_weights(q);
  wait_for_prior_kernel();  // x (and the output buffer) belong to the kernels before
  if (tid == 0)
    for (int q = 0; q < prologue; ++q) load_x(q);
  __syncwarp();

  const uint64_t a_desc0 = sw128_desc(smem + wg * 64 * 128);
  const uint64_t b_desc0 = sw128_desc(smem + A_BYTES);
  for (int n = 0; n < my_tiles; ++n) {
    float acc[BN];  // 64 rows x 2 BN columns over 128 threads: hidden blocks 0 .. BN/8 - 1, then the gate blocks
    // The last K tile's stage is released (and refilled with the next output tile's) before the epilogue.
    wgmma_k_loop<T, 2 * BN, STAGES, STAGE, true>(acc, a_desc0, b_desc0, full, empty, n * k_tiles, k_tiles,
                                                 my_k_tiles, tid, lane, [&](int next) {
                                                   load_weights(next);
                                                   load_x(next);
                                                 });

    // acc[4 j + 2 r + e]: row warp * 16 + g + 8 r, column 8 j + 2 tq + e of the 2 BN (hidden, then gate).
    int m0, j0;
    tile_origin(n, m0, j0);
    const int row0 = m0 + wg * 64 + warp * 16 + g;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
      const int col = j0 + 8 * j + 2 * tq;
      const float bh0 = bias ? to_f32(bias[col]) : 0.0f, bh1 = bias ? to_f32(bias[col + 1]) : 0.0f;
      const float bg0 = bias ? to_f32(bias[f + col]) : 0.0f, bg1 = bias ? to_f32(bias[f + col + 1]) : 0.0f;
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = row0 + 8 * r;
        if (row >= m) continue;
        const float* h = &acc[4 * j + 2 * r];
        const float* gate = &acc[4 * (j + BN / 8) + 2 * r];
        const float y0 = (h[0] + bh0) * gelu_erfc_fit(gate[0] + bg0);
        const float y1 = (h[1] + bh1) * gelu_erfc_fit(gate[1] + bg1);
        *reinterpret_cast<unsigned*>(out + int64_t(row) * f + col) = pack2<T>(y0, y1);
      }
    }
  }
#else
  __trap();  // launch_linear_geglu_sm90 only launches this where sm_90a code was compiled
#endif
}

template <class T>
void launch(const CUtensorMap& x_map, const CUtensorMap& w_map, const void* bias, void* out, int64_t m, int64_t f,
            int k_tiles, int tiles, cudaStream_t stream) {
  const auto kernel = linear_geglu_kernel<T>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_shared_memory(kernel, kSharedBytes, configured);
  // Persistent: as many blocks as fit at once, each computing output tiles until none are left, its next tile's first
  // copies issued under the current one's last products and its epilogue. (One block a tile measured 0.0460 against
  // 0.0418 ms at SD 1.5's 64x64 level, 0.0398 against 0.0383 ms at 32x32, H100.)
  const int blocks = std::min(tiles, kBlocksPerSM * multiprocessor_count());
  launch_dependent(kernel, dim3(unsigned(blocks)), kThreads, kSharedBytes, stream, x_map, w_map,
                   static_cast<const T*>(bias), static_cast<T*>(out), int(m), int(f), k_tiles, tiles);
}

}  // namespace

bool linear_geglu_sm90_compiled() {
#if defined(SDPP_CUDA_SM90A)
  return true;
#else
  return false;
#endif
}

bool launch_linear_geglu_sm90(const void* x, const void* weight, const void* bias, void* out, DType dtype, int64_t m,
                              int64_t k, int64_t f, cudaStream_t stream) {
#if defined(SDPP_CUDA_SM90A)
  if (dtype != DType::F16 && dtype != DType::BF16) return false;
  // Whole 64-output blocks; rows 16-byte aligned for the copies; coordinates and K tiles counted in 32 bits.
  if (f % kBN != 0 || k % 8 != 0 || m < 1 || k > INT32_MAX || 2 * f > INT32_MAX) return false;
  const int64_t tiles = f / kBN * ((m + kBM - 1) / kBM), k_tiles = (k + kBK - 1) / kBK;
  if (tiles * k_tiles > INT32_MAX) return false;  // the K tiles of one block's run are counted in 32 bits
  if (!aligned16(x) || !aligned16(weight) || reinterpret_cast<uintptr_t>(out) % 4 != 0) return false;
  CUtensorMap x_map, w_map;
  if (!encode_swizzled_rows(&x_map, x, dtype, m, k, kBM) ||
      !encode_swizzled_rows(&w_map, weight, dtype, 2 * f, k, kBN))
    return false;
  if (dtype == DType::F16)
    launch<__half>(x_map, w_map, bias, out, m, f, int(k_tiles), int(tiles), stream);
  else
    launch<__nv_bfloat16>(x_map, w_map, bias, out, m, f, int(k_tiles), int(tiles), stream);
  return true;
#else
  (void)x, (void)weight, (void)bias, (void)out, (void)dtype, (void)m, (void)k, (void)f, (void)stream;
  return false;
#endif
}

}  // namespace sdpp::cuda
