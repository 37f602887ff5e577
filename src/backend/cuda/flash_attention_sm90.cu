// Fused attention on Hopper: warpgroup MMAs (wgmma) fed by the tensor memory accelerator (TMA), for f16/bf16 and head
// dims 40, 64 and 80 (SD 1.x's 64x64 and 32x32 levels, SD 2.x and SDXL). Same contract as the mma.sync kernel in
// flash_attention.cu, which stays the path for other head dims, for keys of up to 80 text tokens (its single-tile form
// is faster there) and for other GPUs.
//
// A block holds WG warpgroups of 64 queries each, all of one (batch, head). Q stays in registers in the A-operand
// layout. Per key tile a warpgroup runs FlashAttention-3's intra-warpgroup pipeline: it issues S_{t+1} = Q K_{t+1}^T,
// rescales O for tile t's maximum, issues O += P_t V_t, waits for S_{t+1} only and runs the online softmax on it in
// registers (re-packing P from the accumulator layout, which equals the A-operand layout of a k16 step) while the PV
// product runs.
//
// Tiles arrive through STAGES shared-memory stages, each with a "full" mbarrier (its TMA copies' bytes landed) and an
// "empty" one (every warp is done with it); no barrier spans the block, so warpgroups drift apart and one's softmax
// overlaps another's products. (A cp.async version that ended each tile with a block-wide barrier ran its warpgroups
// in lock step, exponentials and products taking turns: 0.197 ms against 0.152 for SD 1.5's 64x64 level on an H100.
// Passing the products' turn around the warpgroups with named barriers, as FlashAttention-3 does, measured slower
// here, and so did computing part of the exponentials by a polynomial on the FMA pipe: docs/PERFORMANCE.md.)
//
// Layout: a tile of BN rows is stored chunk-major, the 16-byte chunk c of row t at c * BN * 16 + t * 16. Each chunk
// column is one TMA box of 8 elements x BN rows, and every 8 rows of one chunk are a 128-byte wgmma core matrix
// (no swizzle), K-major for S = Q K^T (B = K^T, keys along N) and N-major for O += P V (B = V, keys along K). K's head
// dim is padded to a multiple of 16 with zero chunks, and V has one extra chunk (1, 0, ..., 0) per row, so the PV
// product also sums each row of P (as rounded for the MMA) in f32 and the softmax needs no adds; both are written
// once, never by the copies.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/flash_attention_common.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/tma_ops.cuh"
#include "backend/cuda/wgmma_ops.cuh"
#include "backend/cuda/wgmma_sync.cuh"

namespace sdpp::cuda {
namespace {

constexpr int kWarpgroup = 128;
constexpr int kTileKeys = 64;  // keys a tile: the kernels' BN and the rows of a TMA box

template <int D, int BN>
struct TileLayout {
  static constexpr int kKeyChunks = (D + 15) / 16 * 2;  // K's 16-byte chunks a row, the padded ones zero
  static constexpr int kValueChunks = D / 8;            // V's chunks a row; chunk kValueChunks holds the ones column
  static constexpr int kChunkBytes = BN * 16;           // one chunk column of a tile: one TMA box
  static constexpr int kKeyBytes = kKeyChunks * kChunkBytes;
  static constexpr int kStageBytes = kKeyBytes + (kValueChunks + 1) * kChunkBytes;
};

template <int D, int BN, int STAGES>
constexpr int shared_bytes() {
  // The stages, their mbarriers, then the load counter.
  return STAGES * TileLayout<D, BN>::kStageBytes + 2 * STAGES * int(sizeof(uint64_t)) + int(sizeof(int));
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
#endif

template <class T, int D, int BN, int WG, int STAGES>
__global__ void __launch_bounds__(WG * kWarpgroup, 1)
    flash_attention_sm90_kernel(const __grid_constant__ CUtensorMap k_map, const __grid_constant__ CUtensorMap v_map,
                                const T* __restrict__ q, T* __restrict__ out, int heads, int lq, int lk,
                                float scale_log2, bool causal, int64_t q_stride) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Layout = TileLayout<D, BN>;
  constexpr int KC = Layout::kKeyChunks, VC = Layout::kValueChunks, CHUNK = Layout::kChunkBytes;
  constexpr int K_BYTES = Layout::kKeyBytes, STAGE = Layout::kStageBytes;
  constexpr int KSTEPS = KC / 2;
  // Tile t + LOOKAHEAD is loaded by the first warpgroup to reach tile t, into the stage of tile t + LOOKAHEAD -
  // STAGES: the copies keep pace with the fastest warpgroup, which may lead the slowest by STAGES - LOOKAHEAD tiles.
  constexpr int LOOKAHEAD = STAGES / 2;
  constexpr int THREADS = WG * kWarpgroup;
  constexpr int BQ = 64 * WG;
  constexpr int SN = BN / 8;  // n8 blocks of S
  constexpr int ON = VC + 1;  // n8 blocks of O: the head dim, then the row sums of P
  static_assert(STAGES == 4 || STAGES == 8 || STAGES == 16, "a tile's stage and phase are bits of its index");
  constexpr int STAGE_SHIFT = STAGES == 4 ? 2 : STAGES == 8 ? 3 : 4;
  extern __shared__ __align__(1024) unsigned char smem[];
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + STAGES * STAGE);
  uint64_t* empty = full + STAGES;
  int* next_load = reinterpret_cast<int*>(empty + STAGES);  // the first tile no warpgroup has loaded yet

  const int tid = threadIdx.x, wg = tid / kWarpgroup, warp = tid % kWarpgroup / 32, lane = tid % 32;
  const int g = lane / 4, tq = lane % 4;
  const int bh = int(blockIdx.y), b = bh / heads, h = bh % heads;
  const int q_begin = int(blockIdx.x) * BQ;

  if (tid == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbarrier_init(&full[s], 1);        // the loading thread's arrive; the copies complete its bytes
      mbarrier_init(&empty[s], WG * 4);  // every consumer warp, once its products reading the stage are done
    }
    fence_mbarrier_init();
    *next_load = LOOKAHEAD;
  }
  constexpr int CONSTANT_CHUNKS = KC - VC + 1;  // K's zero padding, then V's ones chunk
  for (int i = tid; i < STAGES * CONSTANT_CHUNKS * BN; i += THREADS) {
    const int stage = i / (CONSTANT_CHUNKS * BN), rest = i % (CONSTANT_CHUNKS * BN);
    const int c = VC + rest / BN, t = rest % BN;
    unsigned char* base = smem + stage * STAGE;
    if (c < KC) {
      *reinterpret_cast<uint4*>(base + c * CHUNK + t * 16) = make_uint4(0, 0, 0, 0);
    } else {
      const T one = T(1.0f);
      const unsigned first = unsigned(*reinterpret_cast<const unsigned short*>(&one));
      *reinterpret_cast<uint4*>(base + K_BYTES + VC * CHUNK + t * 16) = make_uint4(first, 0, 0, 0);
    }
  }
  fence_async_shared();
  __syncthreads();
  wait_for_prior_kernel();  // shared memory only until here: global reads wait for the kernel before

  int tiles = (lk + BN - 1) / BN;
  if (causal) {
    const int needed = (q_begin + BQ - 1) / BN + 1;
    if (needed < tiles) tiles = needed;
  }
  auto load_tile = [&](int tile) {  // by one thread, once per tile
    const int stage = tile & (STAGES - 1);
    if (tile >= STAGES) mbarrier_wait(&empty[stage], unsigned((tile >> STAGE_SHIFT) - 1) & 1u);
    mbarrier_arrive_expect_tx(&full[stage], 2 * VC * CHUNK);
    unsigned char* base = smem + stage * STAGE;
#pragma unroll
    for (int c = 0; c < VC; ++c) {
      tma_load_3d(base + c * CHUNK, &k_map, &full[stage], h * D + c * 8, tile * BN, b);
      tma_load_3d(base + K_BYTES + c * CHUNK, &v_map, &full[stage], h * D + c * 8, tile * BN, b);
    }
  };
  if (tid == 0)
    for (int t = 0; t < LOOKAHEAD && t < tiles; ++t) load_tile(t);
  __syncwarp();

  // Q in the A-operand layout: registers {row g, row g + 8} x {columns 2tq, 2tq + 8} of each k16 step.
  const T* qb = q + int64_t(b) * lq * q_stride + h * D;
  const int row0 = q_begin + wg * 64 + warp * 16 + g;
  unsigned qa[KSTEPS][4];
#pragma unroll
  for (int ks = 0; ks < KSTEPS; ++ks)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int row = row0 + (i & 1) * 8;
      const int col = ks * 16 + (i >> 1) * 8 + 2 * tq;
      qa[ks][i] = row < lq && col < D ? *reinterpret_cast<const unsigned*>(qb + row * q_stride + col) : 0u;
    }

  float o[ON * 4];
#pragma unroll
  for (int i = 0; i < ON * 4; ++i) o[i] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY};
  float s[SN * 4];

  // Descriptors of stage 0's K and V; a tile's are these plus its stage's offset (in 16-byte units, the unit of the
  // descriptor's address field, which no offset within shared memory overflows).
  const uint64_t k_desc0 = smem_desc(smem, CHUNK, 128);
  const uint64_t v_desc0 = smem_desc(smem + K_BYTES, 128, CHUNK);
  auto stage_offset = [](int tile) { return uint64_t((tile & (STAGES - 1)) * (STAGE >> 4)); };
  auto wait_tile = [&](int tile) { mbarrier_wait(&full[tile & (STAGES - 1)], unsigned(tile >> STAGE_SHIFT) & 1u); };
  auto issue_scores = [&](int tile) {  // s = Q K_tile^T, asynchronously
    const uint64_t desc = k_desc0 + stage_offset(tile);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ++ks) Wgmma<T, BN>::template rs<0>(s, qa[ks], desc + ks * (2 * CHUNK >> 4), ks > 0);
    wgmma_commit();
  };
  auto issue_pv = [&](int tile, unsigned(&p)[SN][2]) {  // o += P V_tile, asynchronously
    const uint64_t desc = v_desc0 + stage_offset(tile);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < BN / 16; ++ks) {
      const unsigned pa[4] = {p[2 * ks][0], p[2 * ks][1], p[2 * ks + 1][0], p[2 * ks + 1][1]};
      Wgmma<T, D + 8>::template rs<1>(o, pa, desc + ks * (256 >> 4), 1);
    }
    wgmma_commit();
  };
  // Online softmax of tile `tile`'s scores in s: P (packed T pairs, rows g and g + 8 of each n8 block) and the factor
  // alpha by which the output so far (and its row sums) must be rescaled.
  auto softmax_tile = [&](int tile, unsigned(&p)[SN][2], float(&alpha)[2]) {
    const int key0 = tile * BN;
    if (key0 + BN > lk || (causal && key0 + BN - 1 > q_begin)) {
#pragma unroll
      for (int i = 0; i < SN * 4; ++i) {
        const int key = key0 + (i / 4) * 8 + 2 * tq + (i & 1);
        const int query = row0 + ((i >> 1) & 1) * 8;
        if (key >= lk || (causal && key > query)) s[i] = -INFINITY;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float v[SN];  // the row's maximum as a tree, not a chain of dependent steps
#pragma unroll
      for (int j = 0; j < SN; ++j) v[j] = fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]);
#pragma unroll
      for (int w = SN / 2; w >= 1; w /= 2)
#pragma unroll
        for (int j = 0; j < w; ++j) v[j] = fmaxf(v[j], v[j + w]);
      float m = fmaxf(row_max[r], v[0]);
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
      // A row that has seen only masked keys keeps max -inf; its terms must come out 0, not exp2(nan).
      const float max_scaled = m == -INFINITY ? 0.0f : m * scale_log2;
      alpha[r] = fast_exp2(row_max[r] * scale_log2 - max_scaled);  // exactly 1 where the maximum stayed
      row_max[r] = m;
#pragma unroll
      for (int j = 0; j < SN; ++j)
        p[j][r] = pack2<T>(fast_exp2(fmaf(s[4 * j + 2 * r], scale_log2, -max_scaled)),
                           fast_exp2(fmaf(s[4 * j + 2 * r + 1], scale_log2, -max_scaled)));
    }
  };

  auto rescale = [&](const float(&alpha)[2]) {
    // Once the running maxima settle, most tiles leave every row's unchanged: the warp skips the rescale.
    if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f)) {
#pragma unroll
      for (int j = 0; j < ON; ++j) {
        o[4 * j] *= alpha[0];
        o[4 * j + 1] *= alpha[0];
        o[4 * j + 2] *= alpha[1];
        o[4 * j + 3] *= alpha[1];
      }
    }
  };

  // Prologue: the scores and P of tile 0.
  wait_tile(0);
  issue_scores(0);
  wgmma_wait<0>();
  fence_registers(s);
  unsigned p0[SN][2], p1[SN][2];
  float alpha[2];  // the factor O takes before the next PV product adds to it
  softmax_tile(0, p0, alpha);

  // One step of the loop: O += P_t V_t runs on the tensor cores while the scores of tile t + 1 go through the
  // softmax into p_next. Every step commits the same two groups (the last tile is peeled off), and P alternates
  // between two register sets instead of being copied: otherwise ptxas serialises all wgmmas.
  auto step = [&](int t, unsigned(&p)[SN][2], unsigned(&p_next)[SN][2]) {
    if (tid % kWarpgroup == 0 && t + LOOKAHEAD < tiles && atomicMax(next_load, t + LOOKAHEAD + 1) <= t + LOOKAHEAD)
      load_tile(t + LOOKAHEAD);
    __syncwarp();
    wait_tile(t + 1);
    issue_scores(t + 1);
    rescale(alpha);  // under the scores' product, as FlashAttention-3 does
    fence_registers(o);
    issue_pv(t, p);
    wgmma_wait<1>();  // the scores; the PV product may still run
    fence_registers(s);
    softmax_tile(t + 1, p_next, alpha);
    // ptxas hoists the wait for the PV product to the top of the block the softmax is in, so the exponentials ran
    // after the product instead of under it (SASS: "W1 W0 e34"), unless the wait sits behind a branch on the
    // softmax's last result. This one is never taken (0xFFFFFFFF is two NaNs, which exponentials never make; the
    // nanosleep keeps the branch) and gives "W1 e34 W0": 0.1554 -> 0.1532 ms for SD 1.5's 64x64 level (H100).
    if (p_next[SN - 1][1] == 0xFFFFFFFFu) asm volatile("nanosleep.u32 1;\n" ::: "memory");
    wgmma_wait<0>();
    fence_registers(o);
    fence_registers(p);  // P stays in its registers until the product that reads it has finished
    if (lane == 0) mbarrier_arrive(&empty[t & (STAGES - 1)]);  // tile t's stage: this warp is done with it
  };
  for (int t = 0;; t += 2) {
    if (t + 1 >= tiles) {
      rescale(alpha);
      issue_pv(t, p0);
      break;
    }
    step(t, p0, p1);
    if (t + 2 >= tiles) {
      rescale(alpha);
      issue_pv(t + 1, p1);
      break;
    }
    step(t + 1, p1, p0);
  }
  wgmma_wait<0>();
  fence_registers(o);

  const int64_t row_stride = int64_t(heads) * D;
  T* ob = out + int64_t(b) * lq * row_stride + h * D;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    // Column D of O (element 0 of the quad's first lane in the last n8 block) is the row's sum of P.
    const float sum = __shfl_sync(0xffffffffu, o[4 * VC + 2 * r], lane & ~3);
    const int query = row0 + r * 8;
    if (query >= lq) continue;
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma unroll
    for (int j = 0; j < VC; ++j)
      *reinterpret_cast<unsigned*>(ob + query * row_stride + j * 8 + 2 * tq) =
          pack2<T>(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
  }
#else
  __trap();  // launch_flash_attention_sm90 only launches this where sm_90a code was compiled
#endif
}

struct TmaArgs {
  const void* q;
  void* out;
  int64_t batch;
  int heads;
  int64_t lq, lk;
  float scale;
  bool causal;
  int64_t q_stride;
};

// K or V [batch, lk, row] (rows `stride` elements apart) as a 3-d map whose box is one 16-byte chunk of `rows` rows of
// one batch entry. Rows past lk read as zeros.
bool encode_rows(CUtensorMap* map, const void* base, DType dtype, int64_t batch, int64_t lk, int64_t row_elements,
                 int64_t stride, int rows) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = tensor_map_encoder();
  if (!encode) return false;
  const cuuint64_t dims[3] = {cuuint64_t(row_elements), cuuint64_t(lk), cuuint64_t(batch)};
  const cuuint64_t strides[2] = {cuuint64_t(stride) * 2, cuuint64_t(lk * stride) * 2};
  const cuuint32_t box[3] = {8, cuuint32_t(rows), 1};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  return encode(map, dtype == DType::F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3,
                const_cast<void*>(base), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <class T, int D, int BN, int WG, int STAGES>
void launch(const TmaArgs& a, const CUtensorMap& k_map, const CUtensorMap& v_map, cudaStream_t stream) {
  constexpr int bytes = shared_bytes<D, BN, STAGES>();
  const auto kernel = flash_attention_sm90_kernel<T, D, BN, WG, STAGES>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_shared_memory(kernel, bytes, configured);
  constexpr int BQ = 64 * WG;
  const dim3 grid(unsigned((a.lq + BQ - 1) / BQ), unsigned(a.batch * a.heads));
  launch_dependent(kernel, grid, WG * kWarpgroup, bytes, stream, k_map, v_map, static_cast<const T*>(a.q),
                   static_cast<T*>(a.out), a.heads, int(a.lq), int(a.lk), a.scale * 1.4426950408889634f, a.causal,
                   a.q_stride);
}

// The shapes the kernel takes: head dims 40, 64 and 80, but at 64 only past 128 keys (the mma.sync kernel measured
// faster up to there).
bool covers(int head_dim, int64_t lk) { return head_dim == 40 || head_dim == 80 || (head_dim == 64 && lk > 128); }

// Block shapes (for a shape `covers` takes): four warpgroups for head dim 40 (SD 1.5's 4096-token self-attention),
// three for 64, two for 80, one block a multiprocessor, eight stages of kTileKeys keys.
template <class T>
void launch_typed(int head_dim, const TmaArgs& a, const CUtensorMap& k_map, const CUtensorMap& v_map,
                  cudaStream_t stream) {
  switch (head_dim) {
    case 40: launch<T, 40, kTileKeys, 4, 8>(a, k_map, v_map, stream); break;
    case 64: launch<T, 64, kTileKeys, 3, 8>(a, k_map, v_map, stream); break;
    case 80: launch<T, 80, kTileKeys, 2, 8>(a, k_map, v_map, stream); break;
  }
}

}  // namespace

bool launch_flash_attention_sm90(const void* q, const void* k, const void* v, void* out, DType dtype, int64_t batch,
                                 int heads, int64_t lq, int64_t lk, int head_dim, float scale, bool causal,
                                 cudaStream_t stream, int64_t q_stride, int64_t kv_stride) {
#if defined(SDPP_CUDA_SM90A)
  if (!covers(head_dim, lk)) return false;
  if (lq > INT32_MAX || lk > INT32_MAX || batch > INT32_MAX) return false;  // TMA coordinates and indices are 32-bit
  CUtensorMap k_map, v_map;
  const int64_t row_elements = int64_t(heads) * head_dim;
  if (!encode_rows(&k_map, k, dtype, batch, lk, row_elements, kv_stride, kTileKeys) ||
      !encode_rows(&v_map, v, dtype, batch, lk, row_elements, kv_stride, kTileKeys))
    return false;
  const TmaArgs args{q, out, batch, heads, lq, lk, scale, causal, q_stride};
  if (dtype == DType::F16)
    launch_typed<__half>(head_dim, args, k_map, v_map, stream);
  else
    launch_typed<__nv_bfloat16>(head_dim, args, k_map, v_map, stream);
  return true;
#else
  (void)q, (void)k, (void)v, (void)out, (void)dtype, (void)batch, (void)heads, (void)lq, (void)lk, (void)head_dim;
  (void)scale, (void)causal, (void)stream, (void)q_stride, (void)kv_stride;
  return false;
#endif
}

}  // namespace sdpp::cuda
