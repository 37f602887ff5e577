// Fused attention (FlashAttention-2 style) for f16/bf16: scores never leave registers, softmax runs online in f32.
//
// A block takes 64 queries of one (batch, head); each of its 4 warps owns 16 query rows. Key/value tiles of 64 rows
// stream through shared memory (cp.async, double-buffered). Per tile a warp computes S = Q K^T with m16n8k16 tensor
// core MMAs, rescales its running max / sum, and accumulates O += P V, where P is re-packed from the S accumulator
// registers directly into the A-operand layout (the C layout of two adjacent n8 tiles equals the A layout of one k16
// step). The head dim is zero-padded in shared memory to a multiple of 16 (40 -> 48); padded columns are never
// written out.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cfloat>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace sdpp::cuda {
namespace {

constexpr int kBlockQ = 64;   // queries per block
constexpr int kBlockK = 64;   // keys per tile
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kPad = 8;       // halves of padding per shared row: 16 bytes, staggers ldmatrix rows across banks

__device__ __forceinline__ unsigned smem_addr(const void* p) { return unsigned(__cvta_generic_to_shared(p)); }

// 16 bytes global -> shared; src_bytes 0 writes zeros without reading (out-of-range rows).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

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

template <int DP>
constexpr int shared_bytes() {
  return (kBlockQ + 4 * kBlockK) * (DP + kPad) * 2;  // Q + two buffers of (K, V)
}

// q/k/v/out rows have `row_stride` elements (H * D); head h starts at column h * D.
template <class T, int DP>
__global__ void __launch_bounds__(kThreads) flash_attention_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                                   const T* __restrict__ v, T* __restrict__ out,
                                                                   int heads, int64_t lq, int64_t lk, int head_dim,
                                                                   float scale_log2, bool causal) {
  constexpr int RS = DP + kPad;  // shared row stride in elements
  constexpr int KSTEPS = DP / 16;
  constexpr int DTILES = DP / 8;
  constexpr int NTILES = kBlockK / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* sq = reinterpret_cast<T*>(smem_raw);
  T* skv = sq + kBlockQ * RS;  // buffer b: K at skv + b * 2 * kBlockK * RS, V right after it

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t bh = blockIdx.y;
  const int64_t b = bh / heads, h = bh % heads;
  const int64_t row_stride = int64_t(heads) * head_dim;
  const int64_t q_begin = int64_t(blockIdx.x) * kBlockQ;
  const T* qb = q + b * lq * row_stride + h * head_dim;
  const T* kb = k + b * lk * row_stride + h * head_dim;
  const T* vb = v + b * lk * row_stride + h * head_dim;
  const int chunks = head_dim / 8;  // 16-byte pieces per row

  // Zero the padded head-dim columns once; cp.async never writes them.
  if (head_dim < DP) {
    const int pad_cols = DP - head_dim;
    for (int i = threadIdx.x; i < (kBlockQ + 4 * kBlockK) * pad_cols; i += kThreads)
      sq[(i / pad_cols) * RS + head_dim + i % pad_cols] = T(0.0f);
  }

  auto load_rows = [&](T* dst, const T* src, int64_t first, int64_t limit, int rows) {
    for (int i = threadIdx.x; i < rows * chunks; i += kThreads) {
      const int r = i / chunks, c = i % chunks;
      const int64_t row = first + r;
      const bool ok = row < limit;
      cp_async16(dst + r * RS + c * 8, src + (ok ? row : 0) * row_stride + c * 8, ok ? 16 : 0);
    }
  };
  int64_t tiles = (lk + kBlockK - 1) / kBlockK;
  if (causal) {
    const int64_t last_query = q_begin + kBlockQ - 1;
    const int64_t needed = last_query / kBlockK + 1;
    if (needed < tiles) tiles = needed;
  }
  auto load_tile = [&](int64_t t) {
    T* sk = skv + (t & 1) * 2 * kBlockK * RS;
    load_rows(sk, kb, t * kBlockK, lk, kBlockK);
    load_rows(sk + kBlockK * RS, vb, t * kBlockK, lk, kBlockK);
  };

  load_rows(sq, qb, q_begin, lq, kBlockQ);
  load_tile(0);
  cp_async_commit();

  unsigned qf[KSTEPS][4];
  float o[DTILES][4];
  for (int i = 0; i < DTILES; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float row_max[2] = {-FLT_MAX, -FLT_MAX};
  float row_sum[2] = {0.0f, 0.0f};
  const int g = lane / 4, tq = lane % 4;
  const int64_t query0 = q_begin + warp * 16 + g;  // this thread's rows: query0 and query0 + 8

  for (int64_t t = 0; t < tiles; ++t) {
    if (t + 1 < tiles) {
      load_tile(t + 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (t == 0) {
      // Q fragments for this warp's 16 rows, kept in registers for every tile.
      const int r = warp * 16 + (lane / 8 % 2) * 8 + lane % 8;
      for (int ks = 0; ks < KSTEPS; ++ks) ldmatrix_x4(qf[ks], sq + r * RS + ks * 16 + (lane / 16) * 8);
    }
    const T* sk = skv + (t & 1) * 2 * kBlockK * RS;
    const T* sv = sk + kBlockK * RS;

    float s[NTILES][4];
    for (int i = 0; i < NTILES; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ++ks) {
#pragma unroll
      for (int np = 0; np < NTILES / 2; ++np) {
        unsigned kf[4];
        const int m = lane / 8;
        ldmatrix_x4(kf, sk + (np * 16 + (m / 2) * 8 + lane % 8) * RS + ks * 16 + (m % 2) * 8);
        mma16816<T>(s[2 * np], qf[ks], kf[0], kf[1]);
        mma16816<T>(s[2 * np + 1], qf[ks], kf[2], kf[3]);
      }
    }

    // Mask, scale (into log2 units), and update the running max of rows g and g + 8.
    float tile_max[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
    for (int nt = 0; nt < NTILES; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t key = t * kBlockK + nt * 8 + tq * 2 + (e & 1);
        const int64_t query = query0 + (e >> 1) * 8;
        const bool masked = key >= lk || (causal && key > query);
        s[nt][e] = masked ? -FLT_MAX : s[nt][e] * scale_log2;
        tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[nt][e]);
      }
    }
    float alpha[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
      const float new_max = fmaxf(row_max[r], tile_max[r]);
      alpha[r] = exp2f(row_max[r] - new_max);
      row_max[r] = new_max;
      row_sum[r] *= alpha[r];
    }
#pragma unroll
    for (int dt = 0; dt < DTILES; ++dt) {
      o[dt][0] *= alpha[0];
      o[dt][1] *= alpha[0];
      o[dt][2] *= alpha[1];
      o[dt][3] *= alpha[1];
    }
    // P = exp2(s - max). Masked entries are set to 0 explicitly: while a row has seen only masked keys its max is
    // -FLT_MAX as well, and exp2(s - max) would be 1.
#pragma unroll
    for (int nt = 0; nt < NTILES; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float m = row_max[e >> 1];
        const float p = s[nt][e] == -FLT_MAX ? 0.0f : exp2f(s[nt][e] - m);
        s[nt][e] = p;
        row_sum[e >> 1] += p;
      }
    }
#pragma unroll
    for (int ks = 0; ks < kBlockK / 16; ++ks) {
      unsigned pa[4];
      pa[0] = pack2<T>(s[2 * ks][0], s[2 * ks][1]);
      pa[1] = pack2<T>(s[2 * ks][2], s[2 * ks][3]);
      pa[2] = pack2<T>(s[2 * ks + 1][0], s[2 * ks + 1][1]);
      pa[3] = pack2<T>(s[2 * ks + 1][2], s[2 * ks + 1][3]);
#pragma unroll
      for (int dp = 0; dp < DTILES / 2; ++dp) {
        unsigned vf[4];
        const int m = lane / 8;
        ldmatrix_x4_trans(vf, sv + (ks * 16 + (m % 2) * 8 + lane % 8) * RS + dp * 16 + (m / 2) * 8);
        mma16816<T>(o[2 * dp], pa, vf[0], vf[1]);
        mma16816<T>(o[2 * dp + 1], pa, vf[2], vf[3]);
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites the buffer just read
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 1);
    row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 2);
  }
  T* ob = out + b * lq * row_stride + h * head_dim;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t query = query0 + r * 8;
    if (query >= lq) continue;
    const float inv = row_sum[r] > 0.0f ? 1.0f / row_sum[r] : 0.0f;
#pragma unroll
    for (int dt = 0; dt < DTILES; ++dt) {
      const int d = dt * 8 + tq * 2;
      if (d < head_dim)
        *reinterpret_cast<unsigned*>(ob + query * row_stride + d) =
            pack2<T>(o[dt][r * 2] * inv, o[dt][r * 2 + 1] * inv);
    }
  }
}

template <class T, int DP>
void launch_dp(const void* q, const void* k, const void* v, void* out, int64_t batch, int heads, int64_t lq,
               int64_t lk, int head_dim, float scale, bool causal, cudaStream_t stream) {
  constexpr int bytes = shared_bytes<DP>();
  // Over 48 KB of dynamic shared memory must be opted into, per kernel and device.
  static std::atomic<uint64_t> configured{0};
  int device = 0;
  SDPP_CUDA_CHECK(cudaGetDevice(&device));
  const uint64_t bit = uint64_t(1) << (device & 63);
  if (!(configured.load() & bit)) {
    SDPP_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_kernel<T, DP>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         bytes));
    configured.fetch_or(bit);
  }
  const dim3 grid(unsigned((lq + kBlockQ - 1) / kBlockQ), unsigned(batch * heads));
  flash_attention_kernel<T, DP><<<grid, kThreads, bytes, stream>>>(
      static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), static_cast<T*>(out), heads, lq,
      lk, head_dim, scale * 1.4426950408889634f, causal);
  SDPP_CUDA_CHECK_LAUNCH();
}

template <class T>
bool launch_typed(const void* q, const void* k, const void* v, void* out, int64_t batch, int heads, int64_t lq,
                  int64_t lk, int head_dim, float scale, bool causal, cudaStream_t stream) {
  const int dp = (head_dim + 15) / 16 * 16;
  switch (dp) {
    case 32: launch_dp<T, 32>(q, k, v, out, batch, heads, lq, lk, head_dim, scale, causal, stream); return true;
    case 48: launch_dp<T, 48>(q, k, v, out, batch, heads, lq, lk, head_dim, scale, causal, stream); return true;
    case 64: launch_dp<T, 64>(q, k, v, out, batch, heads, lq, lk, head_dim, scale, causal, stream); return true;
    case 80: launch_dp<T, 80>(q, k, v, out, batch, heads, lq, lk, head_dim, scale, causal, stream); return true;
    case 128: launch_dp<T, 128>(q, k, v, out, batch, heads, lq, lk, head_dim, scale, causal, stream); return true;
    case 160: launch_dp<T, 160>(q, k, v, out, batch, heads, lq, lk, head_dim, scale, causal, stream); return true;
    default: return false;
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace

bool launch_flash_attention(const void* q, const void* k, const void* v, void* out, DType dtype, int64_t batch,
                            int heads, int64_t lq, int64_t lk, int head_dim, float scale, bool causal,
                            cudaStream_t stream) {
  if (dtype != DType::F16 && dtype != DType::BF16) return false;
  if (head_dim % 8 != 0 || !aligned16(q) || !aligned16(k) || !aligned16(v) || !aligned16(out)) return false;
  if (lq <= 0 || lk <= 0 || batch * heads > 65535 || (lq + kBlockQ - 1) / kBlockQ > 0x7fffffffLL) return false;
  if (dtype == DType::F16) return launch_typed<__half>(q, k, v, out, batch, heads, lq, lk, head_dim, scale, causal, stream);
  return launch_typed<__nv_bfloat16>(q, k, v, out, batch, heads, lq, lk, head_dim, scale, causal, stream);
}

}  // namespace sdpp::cuda
