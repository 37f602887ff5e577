// Fused attention for self-attention too small to fill the GPU with blocks of 64 queries: SD 1.5's 16x16 level (256
// tokens a sample, 16 batch-heads: 64 such blocks for 132 multiprocessors; SD 2.x's 12x12 mid-block similarly). There
// the general mma.sync kernel (flash_attention.cu) runs one warp per 16 queries over the key tiles in turn, so a call
// costs that warp's whole chain of dependent loads and products: 14 us on an H100 for the 16x16 level, where its bytes
// would take under 2 us.
//
// Here the keys are split across warps as well. A block takes 16 * QW queries of one (batch, head) and all of its keys
// (81 to kMaxKeys, as KS tiles of BK), resident in shared memory. Its QW * KS warps form a grid: warp (qw, ks) takes
// queries [16 qw, 16 qw + 16) of the block against key tile ks, so each warp runs one tile's products and softmax.
// Then every warp leaves its unnormalised output, row maxima and row sums in shared memory (over the operands, which
// are no longer needed), and the block merges the KS partial results of each query row (the rescaling of split-key
// "flash decoding"), normalises them and writes them out in 16-byte pieces of whole rows.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma_sync_ops.cuh"

namespace sdpp::cuda {
namespace {

constexpr int kTileKeys = 64;     // BK
constexpr int kMaxTiles = 4;      // KS: key tiles a block, one a warp column
constexpr int kMaxKeys = kMaxTiles * kTileKeys;
constexpr int kMaxWarps = 8;      // QW * KS; the register file holds 8 warps of head dim 160 (about 230 registers)
constexpr int kMaxQueryWarps = 4;
constexpr int kPad = 8;           // halves of padding per shared row: 16 bytes, staggers ldmatrix rows across banks
constexpr int kPartialPad = 8;    // floats of padding per partial-output row: the quads' stores hit distinct banks

template <int D>
constexpr int row_elements() {
  return D + kPad;
}

// Shared memory of a launch: Q, K and V rows while the products run, then the partial results, over the same bytes.
template <int D>
int shared_bytes(int query_warps, int key_splits, int key_rows) {
  const int block_q = 16 * query_warps;
  const int operands = (block_q + 2 * key_rows) * row_elements<D>() * 2;
  const int partials = key_splits * block_q * ((D + kPartialPad) + 2) * int(sizeof(float));
  return std::max(operands, partials);
}

// q, k, v, out as for launch_flash_attention (rows q_stride, kv_stride and H * D elements apart). No causal mask.
template <class T, int D>
__global__ void __launch_bounds__(kMaxWarps * 32)
    split_key_attention_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                               T* __restrict__ out, int heads, int lq, int lk, float scale_log2, int q_stride,
                               int kv_stride, int query_warps, int key_splits) {
  static_assert(D % 16 == 0, "k16 steps over the head dim");
  constexpr int BK = kTileKeys;
  constexpr int RS = row_elements<D>();
  constexpr int PS = D + kPartialPad;  // row stride of a partial output, in floats
  constexpr int CHUNKS = D / 8;        // 16-byte pieces a row
  constexpr int KSTEPS = D / 16, DTILES = D / 8, NTILES = BK / 8;
  wait_for_prior_kernel();

  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int block_q = 16 * query_warps;
  T* const sq = reinterpret_cast<T*>(smem_raw);
  T* const sk = sq + block_q * RS;
  T* const sv = sk + key_splits * BK * RS;  // key_splits tiles cover the keys

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, threads = blockDim.x;
  const int qw = warp % query_warps, ks = warp / query_warps;
  const int bh = blockIdx.y, b = bh / heads, h = bh % heads;
  const int q_begin = blockIdx.x * block_q;
  const T* qb = q + (int64_t(b) * lq + q_begin) * q_stride + h * D;
  const T* kb = k + int64_t(b) * lk * kv_stride + h * D;
  const T* vb = v + int64_t(b) * lk * kv_stride + h * D;

  // `rows` rows (of which the first `valid` exist) into shared rows; the others become zeros.
  auto load_rows = [&](T* dst, const T* src, int stride, int rows, int valid) {
    for (int i = threadIdx.x; i < rows * CHUNKS; i += threads) {
      const int r = i / CHUNKS, c = i % CHUNKS;
      const bool ok = r < valid;
      cp_async16(dst + r * RS + c * 8, src + (ok ? r : 0) * stride + c * 8, ok ? 16 : 0);
    }
  };
  load_rows(sq, qb, q_stride, block_q, lq - q_begin);
  load_rows(sk, kb, kv_stride, key_splits * BK, lk);
  load_rows(sv, vb, kv_stride, key_splits * BK, lk);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  const int g = lane / 4, tq = lane % 4, m8 = lane / 8;
  unsigned qf[KSTEPS][4];
#pragma unroll
  for (int kk = 0; kk < KSTEPS; ++kk)
    ldmatrix_x4(qf[kk], sq + (qw * 16 + (m8 % 2) * 8 + lane % 8) * RS + kk * 16 + (m8 / 2) * 8);
  const int key0 = ks * BK;
  const T* tk = sk + key0 * RS;
  const T* tv = sv + key0 * RS;

  float s[NTILES][4];
#pragma unroll
  for (int i = 0; i < NTILES; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
  for (int kk = 0; kk < KSTEPS; ++kk)
#pragma unroll
    for (int np = 0; np < NTILES / 2; ++np) {
      unsigned kf[4];
      ldmatrix_x4(kf, tk + (np * 16 + (m8 / 2) * 8 + lane % 8) * RS + kk * 16 + (m8 % 2) * 8);
      mma16816<T>(s[2 * np], qf[kk], kf[0], kf[1]);
      mma16816<T>(s[2 * np + 1], qf[kk], kf[2], kf[3]);
    }
  if (key0 + BK > lk) {
#pragma unroll
    for (int nt = 0; nt < NTILES; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if (key0 + nt * 8 + tq * 2 + (e & 1) >= lk) s[nt][e] = -INFINITY;
  }

  // The tile's softmax numerators, P as packed T pairs (rows g and g + 8 of each n-tile); every tile holds a valid
  // key (the tiles cover lk), so each row's maximum is finite. Row sums are of P as rounded for the MMA.
  unsigned p[NTILES][2];
  float max_scaled[2], row_sum[2];
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    float m = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < NTILES; ++nt) m = fmaxf(m, fmaxf(s[nt][2 * rr], s[nt][2 * rr + 1]));
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
    max_scaled[rr] = m * scale_log2;
    float sum = 0.0f;
#pragma unroll
    for (int nt = 0; nt < NTILES; ++nt) {
      p[nt][rr] = exp2_pair<T>(fmaf(s[nt][2 * rr], scale_log2, -max_scaled[rr]),
                               fmaf(s[nt][2 * rr + 1], scale_log2, -max_scaled[rr]));
      sum += sum_pair<T>(p[nt][rr]);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    row_sum[rr] = sum + __shfl_xor_sync(0xffffffffu, sum, 2);
  }

  float o[DTILES][4];
#pragma unroll
  for (int i = 0; i < DTILES; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
#pragma unroll
  for (int kk = 0; kk < BK / 16; ++kk) {
    const unsigned pa[4] = {p[2 * kk][0], p[2 * kk][1], p[2 * kk + 1][0], p[2 * kk + 1][1]};
#pragma unroll
    for (int dp = 0; dp < DTILES / 2; ++dp) {
      unsigned vf[4];
      ldmatrix_x4_trans(vf, tv + (kk * 16 + (m8 % 2) * 8 + lane % 8) * RS + dp * 16 + (m8 / 2) * 8);
      mma16816<T>(o[2 * dp], pa, vf[0], vf[1]);
      mma16816<T>(o[2 * dp + 1], pa, vf[2], vf[3]);
    }
  }

  // Partial results over the operands (every warp is done with them): [KS][block_q][PS] outputs, then [KS][block_q]
  // row maxima (scaled, log2 units) and sums, which become each partial's weight in its row.
  __syncthreads();
  float* const partial = reinterpret_cast<float*>(smem_raw);
  float* const weight = partial + key_splits * block_q * PS;
  float* const part_sum = weight + key_splits * block_q;
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    const int row = ks * block_q + qw * 16 + g + rr * 8;
#pragma unroll
    for (int dt = 0; dt < DTILES; ++dt)
      *reinterpret_cast<float2*>(partial + row * PS + dt * 8 + 2 * tq) = make_float2(o[dt][2 * rr], o[dt][2 * rr + 1]);
    if (tq == 0) {
      weight[row] = max_scaled[rr];
      part_sum[row] = row_sum[rr];
    }
  }
  __syncthreads();
  // A row's weights: exp2(m_s - max over s of m_s) / the sum of P over all keys, once a row.
  for (int row = threadIdx.x; row < block_q; row += threads) {
    float top = -INFINITY, sum = 0.0f;
    for (int s = 0; s < key_splits; ++s) top = fmaxf(top, weight[s * block_q + row]);
    for (int s = 0; s < key_splits; ++s) sum += exp2f(weight[s * block_q + row] - top) * part_sum[s * block_q + row];
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int s = 0; s < key_splits; ++s) weight[s * block_q + row] = exp2f(weight[s * block_q + row] - top) * inv;
  }
  __syncthreads();

  // The output in 16-byte pieces: 8 columns of a row, the weighted sum of its partials.
  const int64_t out_stride = int64_t(heads) * D;
  T* const ob = out + (int64_t(b) * lq + q_begin) * out_stride + h * D;
  for (int i = threadIdx.x; i < block_q * CHUNKS; i += threads) {
    const int row = i / CHUNKS, col = (i % CHUNKS) * 8;
    if (q_begin + row >= lq) break;  // rows are in order: the rest are past the end too
    float acc[8] = {};
    for (int s = 0; s < key_splits; ++s) {
      const float w = weight[s * block_q + row];
      const float4* src = reinterpret_cast<const float4*>(partial + (s * block_q + row) * PS + col);
      const float4 lo = src[0], hi = src[1];
      acc[0] += w * lo.x, acc[1] += w * lo.y, acc[2] += w * lo.z, acc[3] += w * lo.w;
      acc[4] += w * hi.x, acc[5] += w * hi.y, acc[6] += w * hi.z, acc[7] += w * hi.w;
    }
    *reinterpret_cast<uint4*>(ob + row * out_stride + col) =
        make_uint4(pack2<T>(acc[0], acc[1]), pack2<T>(acc[2], acc[3]), pack2<T>(acc[4], acc[5]), pack2<T>(acc[6], acc[7]));
  }
}

struct SplitArgs {
  const void *q, *k, *v;
  void* out;
  int64_t batch;
  int heads;
  int64_t lq, lk;
  float scale;
  int64_t q_stride, kv_stride;
};

template <class T, int D>
void launch(const SplitArgs& a, int query_warps, int key_splits, cudaStream_t stream) {
  const auto kernel = split_key_attention_kernel<T, D>;
  // Opted into once for the largest launch the instance may take.
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_shared_memory(kernel, shared_bytes<D>(kMaxQueryWarps, kMaxTiles, kMaxKeys), configured);
  const int bytes = shared_bytes<D>(query_warps, key_splits, key_splits * kTileKeys);
  const int block_q = 16 * query_warps;
  const dim3 grid(unsigned((a.lq + block_q - 1) / block_q), unsigned(a.batch * a.heads));
  launch_dependent(kernel, grid, 32 * query_warps * key_splits, size_t(bytes), stream, static_cast<const T*>(a.q),
                   static_cast<const T*>(a.k), static_cast<const T*>(a.v), static_cast<T*>(a.out), a.heads,
                   int(a.lq), int(a.lk), a.scale * 1.4426950408889634f, int(a.q_stride), int(a.kv_stride),
                   query_warps, key_splits);
}

template <class T>
bool launch_typed(int head_dim, const SplitArgs& a, int query_warps, int key_splits, cudaStream_t stream) {
  switch (head_dim) {
    case 64: launch<T, 64>(a, query_warps, key_splits, stream); return true;
    case 80: launch<T, 80>(a, query_warps, key_splits, stream); return true;
    case 128: launch<T, 128>(a, query_warps, key_splits, stream); return true;
    case 160: launch<T, 160>(a, query_warps, key_splits, stream); return true;
    default: return false;
  }
}

// SDPP_CUDA_FA_SPLIT=0 leaves these shapes to the general kernel.
std::atomic<bool>& split_enabled() {
  static std::atomic<bool> enabled{[] {
    const char* env = std::getenv("SDPP_CUDA_FA_SPLIT");
    return !(env && env[0] == '0');
  }()};
  return enabled;
}

}  // namespace

void set_flash_attention_split(bool enabled) { split_enabled().store(enabled); }

bool launch_flash_attention_split(const void* q, const void* k, const void* v, void* out, DType dtype, int64_t batch,
                                  int heads, int64_t lq, int64_t lk, int head_dim, float scale, bool causal,
                                  cudaStream_t stream, int64_t q_stride, int64_t kv_stride) {
  // Keys the general kernel takes in one tile (up to 80, text tokens) cost it no chain of tiles: there it measured
  // faster than this kernel (docs/PERFORMANCE.md, fourteenth session).
  if (!split_enabled().load() || causal || lk <= 80 || lk > kMaxKeys || head_dim % 16 != 0 || head_dim < 64 ||
      head_dim > 160)
    return false;
  const int64_t bh = batch * heads, sms = multiprocessor_count();
  // Only where the general kernel's blocks of 64 queries leave multiprocessors without two blocks each.
  if ((lq + 63) / 64 * bh >= 2 * sms) return false;
  const int key_splits = int((lk + kTileKeys - 1) / kTileKeys);  // a warp column a tile of keys
  // The most queries a block (fewer blocks re-read the keys) that still give three of every four multiprocessors one.
  int query_warps = 1;
  for (int qw = kMaxQueryWarps; qw > 1; qw /= 2)
    if (qw * key_splits <= kMaxWarps && (lq + 16 * qw - 1) / (16 * qw) * bh * 4 >= 3 * sms) {
      query_warps = qw;
      break;
    }
  const SplitArgs args{q, k, v, out, batch, heads, lq, lk, scale, q_stride, kv_stride};
  return dtype == DType::F16 ? launch_typed<__half>(head_dim, args, query_warps, key_splits, stream)
                             : launch_typed<__nv_bfloat16>(head_dim, args, query_warps, key_splits, stream);
}

}  // namespace sdpp::cuda
