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
// A warpgroup's products over k_tiles tiles into acc (64 rows x N columns). Tiles are numbered across the block's
// whole run (a persistent block computes one output tile after another): this call's tiles are q0 .. q0 + k_tiles - 1,
// tile q in stage q % STAGES. For each, wait for its stage, issue the four k16 wgmmas over it (a_desc0 / b_desc0: the
// operands' descriptors in stage 0), and once tile q - 1's products are done, release its stage; thread 0 then waits
// for every warp's release and calls refill(q - 1 + STAGES) when that is below refill_limit (tid: the thread's index in
// the block, lane: in its warp). Tile q's products run on meanwhile. refill_limit is the number of tiles the block
// loads over its run. RELEASE_LAST also releases the last tile's stage (and refills it) before returning, so that the
// next output tile's copies run under this one's epilogue; without it that stage stays held, as a kernel computing one
// output tile needs no more copies. Returns with every product done.
template <class T, int N, int STAGES, int STAGE_BYTES, bool RELEASE_LAST = false, class Refill>
__device__ __forceinline__ void wgmma_k_loop(float (&acc)[N / 2], uint64_t a_desc0, uint64_t b_desc0, uint64_t* full,
                                             uint64_t* empty, int q0, int k_tiles, int refill_limit, int tid,
                                             int lane, Refill&& refill) {
  auto release = [&](int done) {
    const int next = done + STAGES;
    if (lane == 0) mbarrier_arrive(&empty[done % STAGES]);
    if (tid == 0 && next < refill_limit) {
      mbarrier_wait(&empty[done % STAGES], unsigned(done / STAGES) & 1u);
      refill(next);
    }
    __syncwarp();
  };
  for (int t = 0; t < k_tiles; ++t) {
    const int q = q0 + t, stage = q % STAGES;
    mbarrier_wait(&full[stage], unsigned(q / STAGES) & 1u);
    const uint64_t offset = uint64_t(stage * (STAGE_BYTES >> 4));
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
      Wgmma<T, N>::ss(acc, a_desc0 + offset + 2 * ks, b_desc0 + offset + 2 * ks, t > 0 || ks > 0);
    wgmma_commit();
    wgmma_wait<1>();  // tile q - 1's products are done; tile q's run on
    fence_registers(acc);
    if (t > 0) release(q - 1);
  }
  wgmma_wait<0>();
  fence_registers(acc);
  if (RELEASE_LAST) release(q0 + k_tiles - 1);
}
#endif

}  // namespace sdpp::cuda
