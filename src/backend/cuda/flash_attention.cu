// Fused attention (FlashAttention-2 style) for f16/bf16: scores never leave registers, softmax runs online in f32.
//
// A block takes 64 or 128 queries of one (batch, head); each of its 4 warps owns 16 or 32 query rows. Key/value
// tiles of 64 rows stream through shared memory (cp.async, double-buffered); up to 80 keys (text tokens) are one tile,
// loaded once. Per tile a warp computes S = Q K^T with m16n8k16 tensor core MMAs, rescales its running max / sum, and
// accumulates O += P V, where P is re-packed from the S accumulator registers directly into the A-operand layout (the
// C layout of two adjacent n8 tiles equals the A layout of one k16 step). The head dim is zero-padded in shared memory
// to a multiple of 16 (40 -> 48); padded columns are never written out.
// Where the head dim is padded, V's first padded column holds ones, so the PV MMA also accumulates each row's sum of
// P (as rounded for the MMA, in f32) and the softmax needs no adds of its own.
// On Hopper, launch_flash_attention hands the shapes it covers to the wgmma kernel (flash_attention_sm90.cu) first.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cstdint>
#include <cstdlib>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/flash_attention_common.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma_sync_ops.cuh"

namespace sdpp::cuda {
namespace {

constexpr int kBlockK = 64;   // keys per tile
constexpr int kShortKeys = 80;  // up to this many keys (77 text tokens) make one tile, loaded once
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kPad = 8;       // halves of padding per shared row: 16 bytes, staggers ldmatrix rows across banks

// Queries per warp: 16 * MT. Two m-tiles per warp (MT = 2) let every K/V fragment read from shared memory feed two
// MMAs, halving shared-memory traffic per FLOP; wide heads keep MT = 1 to stay within the register file, and so do
// problems too small to give every multiprocessor a few blocks of 128 queries (launch_dp).
template <int MT>
__host__ __device__ constexpr int block_q() {
  return 16 * MT * kWarps;
}
// Q, then BUFFERS buffers of (K, V) tiles of BK keys, then (kQueryLoop) the next query tile's Q.
template <int DP, int MT, int BK, int BUFFERS, bool kQueryLoop = false>
constexpr int shared_bytes() {
  return ((kQueryLoop ? 2 : 1) * block_q<MT>() + 2 * BUFFERS * BK) * (DP + kPad) * 2;
}

// Rows of q are q_stride elements apart, rows of k and v kv_stride, rows of out H * D; head h starts at column h * D.
// Tiles of BK keys, BUFFERS of them in shared memory: two (double-buffered) in general, one where all keys fit in a
// single tile (text tokens), which leaves room for more blocks per multiprocessor.
// kQueryLoop (single-tile keys only): the block takes q_tiles consecutive query tiles, so the text keys and values
// are loaded once for all of them, and the next tile's queries load while the current one is computed. (At one tile
// a block, the 64x64 level's cross-attention ran 1024 blocks that each waited on their loads before any work.)
template <class T, int DP, int MT, int BK, int BUFFERS, bool kQueryLoop = false>
__global__ void __launch_bounds__(kThreads) flash_attention_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                                   const T* __restrict__ v, T* __restrict__ out,
                                                                   int heads, int lq, int lk, int head_dim,
                                                                   float scale_log2, bool causal, int q_stride,
                                                                   int kv_stride, int q_tiles) {
  static_assert(!kQueryLoop || BUFFERS == 1, "the query loop keeps one key tile for every query tile");
  wait_for_prior_kernel();
  constexpr int BQ = block_q<MT>();
  constexpr int RS = DP + kPad;  // shared row stride in elements
  constexpr int KSTEPS = DP / 16;
  constexpr int DTILES = DP / 8;
  constexpr int NTILES = BK / 8;
  static_assert(BK % 16 == 0 && (BUFFERS == 1 || BUFFERS == 2), "k16 steps over keys; single or double buffering");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* const sq_first = reinterpret_cast<T*>(smem_raw);
  T* const skv = sq_first + BQ * RS;  // buffer b: K at skv + b * 2 * BK * RS, V right after it
  T* const sq_second = skv + 2 * BUFFERS * BK * RS;  // kQueryLoop: odd query tiles' Q

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // Offsets within one batch entry are 32-bit (the launcher checks they fit); a block's bases are 64-bit.
  const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
  const int row_stride = heads * head_dim;  // of out
  const T* qb = q + int64_t(b) * lq * q_stride + h * head_dim;
  const T* kb = k + int64_t(b) * lk * kv_stride + h * head_dim;
  const T* vb = v + int64_t(b) * lk * kv_stride + h * head_dim;
  const int chunks = head_dim / 8;  // 16-byte pieces per row

  // Fill the padded head-dim columns once (cp.async never writes them): zeros, except ones in V's first padded
  // column, which make the PV MMA sum each row of P. The head dim is a multiple of 8, so the padding is one
  // 16-byte chunk a row.
  const bool ones_column = head_dim < DP;
  if (ones_column) {
    constexpr int kv_rows = 2 * BUFFERS * BK;
    const T one = T(1.0f);
    const unsigned one_bits = unsigned(*reinterpret_cast<const unsigned short*>(&one));
    for (int row = threadIdx.x; row < (kQueryLoop ? 2 : 1) * BQ + kv_rows; row += kThreads) {
      const bool v_row = row >= BQ && row < BQ + kv_rows && ((row - BQ) / BK) % 2 == 1;
      *reinterpret_cast<uint4*>(sq_first + row * RS + head_dim) = make_uint4(v_row ? one_bits : 0u, 0u, 0u, 0u);
    }
  }

  // Rows [first, first + rows) of a [limit, head_dim] matrix into shared rows; rows past `limit` become zeros. The
  // loop runs over DP / 8 chunks a row (a division by a constant) and skips the padding's.
  auto load_rows = [&](T* dst, const T* src, int stride, int first, int limit, int rows) {
    constexpr int CP = DP / 8;
    for (int i = threadIdx.x; i < rows * CP; i += kThreads) {
      const int r = i / CP, c = i % CP;
      if (c >= chunks) continue;
      const int row = first + r;
      const bool ok = row < limit;
      cp_async16(dst + r * RS + c * 8, src + (ok ? row : 0) * stride + c * 8, ok ? 16 : 0);
    }
  };
  const int query_tiles = kQueryLoop ? q_tiles : 1;
  for (int qt = 0; qt < query_tiles; ++qt) {
    const int q_begin = (int(blockIdx.x) * query_tiles + qt) * BQ;
    if (q_begin >= lq) break;  // the grid's last block may have fewer tiles
    T* const sq = kQueryLoop && qt % 2 == 1 ? sq_second : sq_first;
    const int next_q = q_begin + BQ;
    const bool prefetch_q = kQueryLoop && qt + 1 < query_tiles && next_q < lq;
    int tiles = (lk + BK - 1) / BK;  // 1 where BUFFERS == 1 (the launcher's choice)
    if (causal) {
      const int needed = (q_begin + BQ - 1) / BK + 1;
      if (needed < tiles) tiles = needed;
    }
    auto load_tile = [&](int t) {
      T* sk = skv + (t % BUFFERS) * 2 * BK * RS;
      load_rows(sk, kb, kv_stride, t * BK, lk, BK);
      load_rows(sk + BK * RS, vb, kv_stride, t * BK, lk, BK);
    };

    if (qt == 0) {  // later tiles' queries were prefetched by the tile before, the keys are loaded once
      load_rows(sq, qb, q_stride, q_begin, lq, BQ);
      load_tile(0);
      cp_async_commit();
    }

    unsigned qf[MT][KSTEPS][4];
    float o[MT][DTILES][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int i = 0; i < DTILES; ++i) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.0f;
    // Per thread: rows g and g + 8 of each m-tile. Max in raw score units, sum of exp2 terms.
    float row_max[MT][2], row_sum[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) row_max[mt][0] = row_max[mt][1] = -INFINITY, row_sum[mt][0] = row_sum[mt][1] = 0.0f;
    const int g = lane / 4, tq = lane % 4;
    const int warp_q0 = q_begin + warp * 16 * MT + g;  // row g of m-tile 0

    for (int t = 0; t < tiles; ++t) {
      if (t + 1 < tiles) {
        load_tile(t + 1);
        cp_async_commit();
        cp_async_wait<1>();
      } else if (prefetch_q) {
        load_rows(sq == sq_first ? sq_second : sq_first, qb, q_stride, next_q, lq, BQ);
        cp_async_commit();
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
      if (t == 0) {
        // Q fragments for this warp's rows, kept in registers for every tile.
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          const int r = warp * 16 * MT + mt * 16 + (lane / 8 % 2) * 8 + lane % 8;
#pragma unroll
          for (int ks = 0; ks < KSTEPS; ++ks) ldmatrix_x4(qf[mt][ks], sq + r * RS + ks * 16 + (lane / 16) * 8);
        }
      }
      const T* sk = skv + (t % BUFFERS) * 2 * BK * RS;
      const T* sv = sk + BK * RS;

      float s[MT][NTILES][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int i = 0; i < NTILES; ++i) s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < KSTEPS; ++ks) {
#pragma unroll
        for (int np = 0; np < NTILES / 2; ++np) {
          unsigned kf[4];
          const int m = lane / 8;
          ldmatrix_x4(kf, sk + (np * 16 + (m / 2) * 8 + lane % 8) * RS + ks * 16 + (m % 2) * 8);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma16816<T>(s[mt][2 * np], qf[mt][ks], kf[0], kf[1]);
            mma16816<T>(s[mt][2 * np + 1], qf[mt][ks], kf[2], kf[3]);
          }
        }
      }

      // Masks only where a tile can hold masked keys: past the end of the keys, or after a query (causal).
      const int key0 = t * BK;
      if (key0 + BK > lk || (causal && key0 + BK - 1 > q_begin)) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int nt = 0; nt < NTILES; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int key = key0 + nt * 8 + tq * 2 + (e & 1);
              const int query = warp_q0 + mt * 16 + (e >> 1) * 8;
              if (key >= lk || (causal && key > query)) s[mt][nt][e] = -INFINITY;
            }
      }

      unsigned p[MT][NTILES][2];  // P as packed T pairs: rows g and g + 8 of each n-tile
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        float max_scaled[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          float m = row_max[mt][r];
#pragma unroll
          for (int nt = 0; nt < NTILES; ++nt) m = fmaxf(m, fmaxf(s[mt][nt][2 * r], s[mt][nt][2 * r + 1]));
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
          // A row that has seen only masked keys keeps max -inf; its terms must come out 0, not exp2(nan).
          max_scaled[r] = m == -INFINITY ? 0.0f : m * scale_log2;
          const float alpha = exp2f(row_max[mt][r] * scale_log2 - max_scaled[r]);
          row_max[mt][r] = m;
          row_sum[mt][r] *= alpha;
#pragma unroll
          for (int dt = 0; dt < DTILES; ++dt) {
            o[mt][dt][2 * r] *= alpha;
            o[mt][dt][2 * r + 1] *= alpha;
          }
        }
#pragma unroll
        for (int nt = 0; nt < NTILES; ++nt)
#pragma unroll
          for (int r = 0; r < 2; ++r) {
            p[mt][nt][r] = exp2_pair<T>(fmaf(s[mt][nt][2 * r], scale_log2, -max_scaled[r]),
                                        fmaf(s[mt][nt][2 * r + 1], scale_log2, -max_scaled[r]));
            if (!ones_column) row_sum[mt][r] += sum_pair<T>(p[mt][nt][r]);
          }
      }

#pragma unroll
      for (int ks = 0; ks < BK / 16; ++ks) {
        unsigned pa[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          pa[mt][0] = p[mt][2 * ks][0];
          pa[mt][1] = p[mt][2 * ks][1];
          pa[mt][2] = p[mt][2 * ks + 1][0];
          pa[mt][3] = p[mt][2 * ks + 1][1];
        }
#pragma unroll
        for (int dp = 0; dp < DTILES / 2; ++dp) {
          unsigned vf[4];
          const int m = lane / 8;
          ldmatrix_x4_trans(vf, sv + (ks * 16 + (m % 2) * 8 + lane % 8) * RS + dp * 16 + (m / 2) * 8);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma16816<T>(o[mt][2 * dp], pa[mt], vf[0], vf[1]);
            mma16816<T>(o[mt][2 * dp + 1], pa[mt], vf[2], vf[3]);
          }
        }
      }
      __syncthreads();  // the next iteration's prefetch overwrites the buffer just read
    }

    T* ob = out + int64_t(b) * lq * row_stride + h * head_dim;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float sum = row_sum[mt][r];
        if (ones_column) {
          // Column head_dim of O (a multiple of 8: element 0 of the first lane of each quad) holds the row's sum of P.
          float column = 0.0f;
#pragma unroll
          for (int dt = 0; dt < DTILES; ++dt)
            if (dt == head_dim / 8) column = o[mt][dt][r * 2];
          sum = __shfl_sync(0xffffffffu, column, lane & ~3);
        } else {
          sum += __shfl_xor_sync(0xffffffffu, sum, 1);
          sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        }
        const int query = warp_q0 + mt * 16 + r * 8;
        if (query >= lq) continue;
        const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma unroll
        for (int dt = 0; dt < DTILES; ++dt) {
          const int d = dt * 8 + tq * 2;
          if (d < head_dim)
            *reinterpret_cast<unsigned*>(ob + query * row_stride + d) =
                pack2<T>(o[mt][dt][r * 2] * inv, o[mt][dt][r * 2 + 1] * inv);
        }
      }
    }
  }  // query tiles
}

struct FlashArgs {
  const void *q, *k, *v;
  void* out;
  int64_t batch;
  int heads;
  int64_t lq, lk;
  int head_dim;
  float scale;
  bool causal;
  int64_t q_stride, kv_stride;
};

// q_tiles > 1 (query tiles a block) takes the kQueryLoop instance.
template <class T, int DP, int MT, int BK = kBlockK, int BUFFERS = 2, bool kQueryLoop = false>
void launch_kernel(const FlashArgs& a, cudaStream_t stream, int q_tiles = 1) {
  constexpr int bytes = shared_bytes<DP, MT, BK, BUFFERS, kQueryLoop>();
  const auto kernel = flash_attention_kernel<T, DP, MT, BK, BUFFERS, kQueryLoop>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_shared_memory(kernel, bytes, configured);
  const int64_t tiles = (a.lq + block_q<MT>() - 1) / block_q<MT>();
  const dim3 grid(unsigned((tiles + q_tiles - 1) / q_tiles), unsigned(a.batch * a.heads));
  launch_dependent(kernel, grid, kThreads, bytes, stream, static_cast<const T*>(a.q), static_cast<const T*>(a.k),
                   static_cast<const T*>(a.v), static_cast<T*>(a.out), a.heads, int(a.lq), int(a.lk), a.head_dim,
                   a.scale * 1.4426950408889634f, a.causal, int(a.q_stride), int(a.kv_stride), q_tiles);
}

// SDPP_CUDA_FA_QTILES=N caps the query tiles a short-key block takes, a power of two up to 8 (1: one tile a block, as
// before the loop).
int max_query_tiles() {
  static const int cap = [] {
    const char* v = std::getenv("SDPP_CUDA_FA_QTILES");
    return v ? std::clamp(std::atoi(v), 1, 8) : 8;
  }();
  return cap;
}

// Query tiles a block for text-token keys: the most, up to the cap, that still leave at least two blocks a
// multiprocessor, so that no multiprocessor idles while others loop. On the H100 this took the SD 1.5 step's own
// attention kernels from 254.6 to 237.6 us (2 tiles a block at the 64x64 level; docs/PERFORMANCE.md, ninth session).
int short_key_query_tiles(const FlashArgs& a, int block_queries) {
  const int64_t tiles = (a.lq + block_queries - 1) / block_queries, bh = a.batch * a.heads;
  const int64_t min_blocks = 2 * int64_t(multiprocessor_count());
  int best = 1;
  for (int n = 2; n <= max_query_tiles(); n *= 2)
    if ((tiles + n - 1) / n * bh >= min_blocks) best = n;
  return best;
}

std::atomic<bool>& wgmma_enabled() {
  static std::atomic<bool> enabled{[] {
    const char* env = std::getenv("SDPP_CUDA_WGMMA");
    return !(env && env[0] == '0');
  }()};
  return enabled;
}

bool is_sm90() { return compute_capability_major() == 9; }

template <class T, int DP>
void launch_dp(const FlashArgs& a, cudaStream_t stream) {
  // Text-token keys: one tile, one buffer, one m-tile per warp (the smallest blocks, up to ten per multiprocessor).
  // Two m-tiles measured slower on every SD shape; so did the wgmma kernel except, by 7%, at head dim 40.
  if (a.lk <= kShortKeys) {
    const int q_tiles = short_key_query_tiles(a, block_q<1>());
    if (q_tiles > 1)
      launch_kernel<T, DP, 1, kShortKeys, 1, true>(a, stream, q_tiles);
    else
      launch_kernel<T, DP, 1, kShortKeys, 1>(a, stream);
    return;
  }
  // Two m-tiles per warp only when that still leaves three blocks per multiprocessor: SDXL's 1024-token level (40
  // batch-heads) gets 640 blocks of 64 queries rather than 320 of 128.
  if constexpr (DP <= 64) {
    const int64_t wide_blocks = (a.lq + block_q<2>() - 1) / block_q<2>() * a.batch * a.heads;
    if (wide_blocks >= 3 * int64_t(multiprocessor_count())) {
      launch_kernel<T, DP, 2>(a, stream);
      return;
    }
  }
  launch_kernel<T, DP, 1>(a, stream);
}

template <class T>
bool launch_typed(const FlashArgs& a, cudaStream_t stream) {
  switch ((a.head_dim + 15) / 16 * 16) {
    case 32: launch_dp<T, 32>(a, stream); return true;
    case 48: launch_dp<T, 48>(a, stream); return true;
    case 64: launch_dp<T, 64>(a, stream); return true;
    case 80: launch_dp<T, 80>(a, stream); return true;
    case 128: launch_dp<T, 128>(a, stream); return true;
    case 160: launch_dp<T, 160>(a, stream); return true;
    default: return false;
  }
}

}  // namespace

void set_flash_attention_wgmma(bool enabled) { wgmma_enabled().store(enabled); }

bool launch_flash_attention(const void* q, const void* k, const void* v, void* out, DType dtype, int64_t batch,
                            int heads, int64_t lq, int64_t lk, int head_dim, float scale, bool causal,
                            cudaStream_t stream, int64_t q_stride, int64_t kv_stride) {
  if (dtype != DType::F16 && dtype != DType::BF16) return false;
  if (q_stride == 0) q_stride = int64_t(heads) * head_dim;
  if (kv_stride == 0) kv_stride = int64_t(heads) * head_dim;
  if (q_stride % 8 != 0 || kv_stride % 8 != 0) return false;  // 16-byte rows for cp.async
  if (head_dim % 8 != 0 || !aligned16(q) || !aligned16(k) || !aligned16(v) || !aligned16(out)) return false;
  if (lq <= 0 || lk <= 0 || batch * heads > 65535) return false;
  // The kernels index within one batch entry in 32 bits.
  if (lq * q_stride > INT32_MAX || lk * kv_stride > INT32_MAX || lq * heads * head_dim > INT32_MAX) return false;
  if (wgmma_enabled().load() && is_sm90() && lk > kShortKeys &&
      launch_flash_attention_sm90(q, k, v, out, dtype, batch, heads, lq, lk, head_dim, scale, causal, stream,
                                  q_stride, kv_stride))
    return true;
  const FlashArgs args{q, k, v, out, batch, heads, lq, lk, head_dim, scale, causal, q_stride, kv_stride};
  return dtype == DType::F16 ? launch_typed<__half>(args, stream) : launch_typed<__nv_bfloat16>(args, stream);
}

}  // namespace sdpp::cuda
