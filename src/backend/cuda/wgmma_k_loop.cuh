// The K loop of the own Hopper GEMMs (linear_geglu_sm90.cu, linear_layer_norm_sm90.cu): operand tiles of 64 K arrive
// by TMA through STAGES shared-memory stages of STAGE_BYTES each, every stage guarded by a "full" mbarrier (its copies
// landed) and an "empty" one (one arrival a warp: the products reading it are done).
#pragma once
#include <cstdint>

#include "backend/cuda/tma_ops.cuh"
#include "backend/cuda/wgmma_ops.cuh"
#include "backend/cuda/wgmma_sync.cuh"

namespace sdpp::cuda {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// A warpgroup's products over k_tiles tiles into acc (64 rows x N columns): for each tile t, wait for its stage, issue
// the four k16 wgmmas over it (a_desc0 / b_desc0: the operands' descriptors in stage 0), and once tile t - 1's products
// are done, release its stage; thread 0 then waits for every warp's release and calls refill(t - 1 + STAGES) when
// that tile exists (tid: the thread's index in the block, lane: in its warp). Tile t's products run on meanwhile.
// Returns with every product done.
template <class T, int N, int STAGES, int STAGE_BYTES, class Refill>
__device__ __forceinline__ void wgmma_k_loop(float (&acc)[N / 2], uint64_t a_desc0, uint64_t b_desc0, uint64_t* full,
                                             uint64_t* empty, int k_tiles, int tid, int lane, Refill&& refill) {
  for (int t = 0; t < k_tiles; ++t) {
    const int stage = t % STAGES;
    mbarrier_wait(&full[stage], unsigned(t / STAGES) & 1u);
    const uint64_t offset = uint64_t(stage * (STAGE_BYTES >> 4));
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
      Wgmma<T, N>::ss(acc, a_desc0 + offset + 2 * ks, b_desc0 + offset + 2 * ks, t > 0 || ks > 0);
    wgmma_commit();
    wgmma_wait<1>();  // tile t - 1's products are done; tile t's run on
    fence_registers(acc);
    if (t > 0) {
      const int done = t - 1, next = done + STAGES;
      if (lane == 0) mbarrier_arrive(&empty[done % STAGES]);
      if (tid == 0 && next < k_tiles) {
        mbarrier_wait(&empty[done % STAGES], unsigned(done / STAGES) & 1u);
        refill(next);
      }
      __syncwarp();
    }
  }
  wgmma_wait<0>();
  fence_registers(acc);
}
#endif

}  // namespace sdpp::cuda
