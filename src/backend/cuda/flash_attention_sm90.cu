// Fused attention on Hopper's warpgroup MMAs (wgmma) for f16/bf16 and head dims 40, 64 and 80 (SD 1.x's 64x64 and
// 32x32 levels, SD 2.x and SDXL). Same contract as the mma.sync kernel in flash_attention.cu, which stays the path for
// other head dims, for keys of up to 80 text tokens (its single-tile form is faster there) and for other GPUs.
//
// Why a second kernel: mma.sync runs at a fraction of the H100's tensor rate; wgmma reads B straight from shared
// memory and runs asynchronously, so the softmax of one tile overlaps the matrix products of another.
//
// A block holds WG warpgroups of 64 queries each, all of one (batch, head). Q stays in registers in the A-operand
// layout; key/value tiles of BN rows stream through STAGES shared-memory stages (cp.async). Tiles are stored as 8x8
// "core matrices" of 128 contiguous bytes (no swizzle): row t, 16-byte chunk c lives at
// ((t / 8) * chunks + c) * 128 + (t % 8) * 16. That is K-major for S = Q K^T (B = K^T, keys along N) and N-major for
// O += P V (B = V, keys along K), so one layout serves both products. Head dim 40 is padded to 48 for Q K^T with
// zero chunks the loads never overwrite; V carries one extra chunk whose first column is ones, so the PV product
// also sums each row of P and the softmax needs no adds.
//
// Per tile a warpgroup runs FlashAttention-3's intra-warpgroup pipeline: it issues S_{t+1} = Q K_{t+1}^T and
// O += P_t V_t, waits for S_{t+1} only, runs the online softmax on it in registers (re-packing P from the
// accumulator layout, which equals the A-operand layout of a k16 step) while the PV product runs, then rescales O.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cmath>
#include <cstdint>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/flash_attention_common.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/wgmma_ops.cuh"
#include "backend/cuda/wgmma_sync.cuh"

namespace sdpp::cuda {
namespace {

constexpr int kWarpgroup = 128;

template <int D, int BN>
constexpr int stage_bytes() {
  return BN * ((D + 15) / 16 * 2) * 16 + BN * (D / 8 + 1) * 16;  // K (head dim padded to 16) + V and its ones column
}

template <class T, int D, int BN, int WG, int STAGES, int MINB>
__global__ void __launch_bounds__(WG * kWarpgroup, MINB)
    flash_attention_sm90_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                T* __restrict__ out, int heads, int lq, int lk, float scale_log2, bool causal,
                                int64_t q_stride, int64_t kv_stride) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  wait_for_prior_kernel();
  static_assert(STAGES >= 3, "a stage is refilled only after the PV product of the tile before it has finished");
  constexpr int DP = (D + 15) / 16 * 16;
  constexpr int KC = DP / 8;  // 16-byte chunks per key row in shared memory, the padded ones zero
  constexpr int VC = D / 8;   // ... per value row; chunk VC holds the ones column
  constexpr int KSTEPS = DP / 16;
  constexpr int THREADS = WG * kWarpgroup;
  constexpr int BQ = 64 * WG;
  constexpr int K_BYTES = BN * KC * 16;
  constexpr int STAGE = stage_bytes<D, BN>();
  constexpr int SN = BN / 8;  // n8 blocks of S
  constexpr int ON = VC + 1;  // n8 blocks of O: the head dim, then the row sums of P
  extern __shared__ __align__(128) unsigned char smem[];

  const int tid = threadIdx.x, wg = tid / kWarpgroup, warp = tid % kWarpgroup / 32, lane = tid % 32;
  const int g = lane / 4, tq = lane % 4;
  const int64_t bh = blockIdx.y, b = bh / heads, h = bh % heads;
  const int q_begin = int(blockIdx.x) * BQ;
  const T* qb = q + b * lq * q_stride + h * D;
  const T* kb = k + b * lk * kv_stride + h * D;
  const T* vb = v + b * lk * kv_stride + h * D;

  // Chunks the loads never write, filled once: K's head-dim padding (zeros), and V's extra chunk, whose first
  // column of ones makes the PV product also sum each row of P (as rounded for the MMA) in f32.
  for (int i = tid; i < STAGES * BN * (KC - VC + 1); i += THREADS) {
    const int stage = i / (BN * (KC - VC + 1)), rest = i % (BN * (KC - VC + 1));
    const int t = rest / (KC - VC + 1), c = VC + rest % (KC - VC + 1);  // c == KC: the ones chunk of V
    unsigned char* base = smem + stage * STAGE;
    if (c < KC) {
      *reinterpret_cast<uint4*>(base + ((t / 8) * KC + c) * 128 + (t % 8) * 16) = make_uint4(0, 0, 0, 0);
    } else {
      const T one = T(1.0f);
      const unsigned first = unsigned(*reinterpret_cast<const unsigned short*>(&one));
      *reinterpret_cast<uint4*>(base + K_BYTES + ((t / 8) * (VC + 1) + VC) * 128 + (t % 8) * 16) =
          make_uint4(first, 0, 0, 0);
    }
  }
  int tiles = (lk + BN - 1) / BN;
  if (causal) {
    const int needed = (q_begin + BQ - 1) / BN + 1;
    if (needed < tiles) tiles = needed;
  }
  // One cp.async group per tile index, empty past the last tile, so wait counts stay uniform.
  auto load_tile = [&](int tile) {
    if (tile < tiles) {
      unsigned char* base = smem + int(tile % STAGES) * STAGE;
      for (int i = tid; i < 2 * BN * VC; i += THREADS) {
        const bool is_v = i >= BN * VC;
        const int rest = is_v ? i - BN * VC : i, t = rest / VC, c = rest % VC;
        const int row = tile * BN + t;
        const bool ok = row < lk;
        const T* src = (is_v ? vb : kb) + (ok ? row : 0) * kv_stride + c * 8;
        unsigned char* dst =
            is_v ? base + K_BYTES + ((t / 8) * (VC + 1) + c) * 128 : base + ((t / 8) * KC + c) * 128;
        cp_async16(dst + (t % 8) * 16, src, ok ? 16 : 0);
      }
    }
    cp_async_commit();
  };
  for (int i = 0; i < STAGES - 1; ++i) load_tile(i);

  // Q in the A-operand layout: registers {row g, row g + 8} x {columns 2tq, 2tq + 8} of each k16 step.
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

  auto issue_scores = [&](int tile) {  // s = Q K_tile^T, asynchronously
    const unsigned char* sk = smem + int(tile % STAGES) * STAGE;
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ++ks)
      Wgmma<T, BN>::template rs<0>(s, qa[ks], smem_desc(sk + ks * 256, 128, KC * 128), ks > 0);
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
      float m = row_max[r];
#pragma unroll
      for (int j = 0; j < SN; ++j) m = fmaxf(m, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
      // A row that has seen only masked keys keeps max -inf; its terms must come out 0, not exp2(nan).
      const float max_scaled = m == -INFINITY ? 0.0f : m * scale_log2;
      alpha[r] = exp2f(row_max[r] * scale_log2 - max_scaled);
      row_max[r] = m;
#pragma unroll
      for (int j = 0; j < SN; ++j) {
        const float x0 = fmaf(s[4 * j + 2 * r], scale_log2, -max_scaled);
        const float x1 = fmaf(s[4 * j + 2 * r + 1], scale_log2, -max_scaled);
        p[j][r] = pack2<T>(exp2f(x0), exp2f(x1));
      }
    }
  };

  // Prologue: the scores and P of tile 0.
  cp_async_wait<STAGES - 2>();
  fence_async_shared();
  __syncthreads();
  issue_scores(0);
  wgmma_wait<0>();
  fence_registers(s);
  unsigned p0[SN][2], p1[SN][2];
  float alpha0[2];  // nothing to rescale yet
  softmax_tile(0, p0, alpha0);

  auto issue_pv = [&](int tile, unsigned(&p)[SN][2]) {  // o += P V_tile, asynchronously
    const unsigned char* sv = smem + int(tile % STAGES) * STAGE + K_BYTES;
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < BN / 16; ++ks) {
      const unsigned pa[4] = {p[2 * ks][0], p[2 * ks][1], p[2 * ks + 1][0], p[2 * ks + 1][1]};
      Wgmma<T, D + 8>::template rs<1>(o, pa, smem_desc(sv + ks * 2 * (VC + 1) * 128, (VC + 1) * 128, 128), 1);
    }
    wgmma_commit();
  };
  // One step of the loop: O += P_t V_t runs on the tensor cores while the scores of tile t + 1 go through the
  // softmax into p_next. Every step commits the same two groups (the last tile is peeled off), and P alternates
  // between two register sets instead of being copied: otherwise ptxas serialises all wgmmas.
  auto step = [&](int t, unsigned(&p)[SN][2], unsigned(&p_next)[SN][2]) {
    cp_async_wait<STAGES - 3>();  // tile t + 1 has landed
    fence_async_shared();
    __syncthreads();            // ... for every thread's copies; and every warpgroup is done with tile t - 1's stage
    load_tile(t + STAGES - 1);  // into the stage tile t - 1 used
    issue_scores(t + 1);
    issue_pv(t, p);
    float alpha[2];
    wgmma_wait<1>();  // the scores; the PV product may still run
    fence_registers(s);
    softmax_tile(t + 1, p_next, alpha);
    wgmma_wait<0>();
    fence_registers(o);
    fence_registers(p);  // P stays in its registers until the product that reads it has finished
#pragma unroll
    for (int j = 0; j < ON; ++j) {
      o[4 * j] *= alpha[0];
      o[4 * j + 1] *= alpha[0];
      o[4 * j + 2] *= alpha[1];
      o[4 * j + 3] *= alpha[1];
    }
  };
  for (int t = 0;; t += 2) {
    if (t + 1 >= tiles) {
      issue_pv(t, p0);
      break;
    }
    step(t, p0, p1);
    if (t + 2 >= tiles) {
      issue_pv(t + 1, p1);
      break;
    }
    step(t + 1, p1, p0);
  }
  wgmma_wait<0>();
  fence_registers(o);

  const int64_t row_stride = int64_t(heads) * D;
  T* ob = out + b * lq * row_stride + h * D;
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

struct Sm90Args {
  const void *q, *k, *v;
  void* out;
  int64_t batch;
  int heads;
  int64_t lq, lk;
  float scale;
  bool causal;
  int64_t q_stride, kv_stride;
};

template <class T, int D, int BN, int WG, int STAGES, int MINB>
void launch(const Sm90Args& a, cudaStream_t stream) {
  constexpr int bytes = STAGES * stage_bytes<D, BN>();
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_shared_memory(flash_attention_sm90_kernel<T, D, BN, WG, STAGES, MINB>, bytes, configured);
  constexpr int BQ = 64 * WG;
  const dim3 grid(unsigned((a.lq + BQ - 1) / BQ), unsigned(a.batch * a.heads));
  launch_dependent(flash_attention_sm90_kernel<T, D, BN, WG, STAGES, MINB>, grid, WG * kWarpgroup, bytes, stream,
                   static_cast<const T*>(a.q), static_cast<const T*>(a.k), static_cast<const T*>(a.v),
                   static_cast<T*>(a.out), a.heads, int(a.lq), int(a.lk), a.scale * 1.4426950408889634f, a.causal,
                   a.q_stride, a.kv_stride);
}

// Tile shapes as measured on the H100 (sdpp_attention_bench): 64 keys per tile and four stages throughout, one block
// per multiprocessor; four warpgroups per block for head dim 40 (SD 1.5's 4096-token self-attention: 0.192 ms, against
// 0.208 with two blocks of two and 0.246 with one of two), three for 64, two for 80. Against 77 text tokens the
// mma.sync kernel is faster; the caller sends those there, and up to 128 keys at head dim 64 stay with it too.
template <class T>
bool launch_typed(int head_dim, const Sm90Args& a, cudaStream_t stream) {
  switch (head_dim) {
    case 40: launch<T, 40, 64, 4, 4, 1>(a, stream); return true;
    case 64:
      if (a.lk <= 128) return false;
      launch<T, 64, 64, 3, 4, 1>(a, stream);
      return true;
    case 80: launch<T, 80, 64, 2, 4, 1>(a, stream); return true;
    default: return false;
  }
}

}  // namespace

bool launch_flash_attention_sm90(const void* q, const void* k, const void* v, void* out, DType dtype, int64_t batch,
                                 int heads, int64_t lq, int64_t lk, int head_dim, float scale, bool causal,
                                 cudaStream_t stream, int64_t q_stride, int64_t kv_stride) {
#if defined(SDPP_CUDA_SM90A)
  if (lq > INT32_MAX || lk > INT32_MAX) return false;  // token indices are 32-bit in the kernel
  const Sm90Args args{q, k, v, out, batch, heads, lq, lk, scale, causal, q_stride, kv_stride};
  return dtype == DType::F16 ? launch_typed<__half>(head_dim, args, stream)
                             : launch_typed<__nv_bfloat16>(head_dim, args, stream);
#else
  (void)q, (void)k, (void)v, (void)out, (void)dtype, (void)batch, (void)heads, (void)lq, (void)lk, (void)head_dim;
  (void)scale, (void)causal, (void)stream, (void)q_stride, (void)kv_stride;
  return false;
#endif
}

}  // namespace sdpp::cuda
