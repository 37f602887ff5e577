// Group norm for channels-last data [N, HW, C] (the UNet's resnets and transformer inputs), bandwidth-bound:
//   1. partial sums: a block takes a range of pixels of one sample and every channel; each thread owns fixed channel
//      pairs (coalesced along C), so its running sums belong to fixed groups and meet other threads' only once, in
//      shared memory, at the end. Sums are taken around each group's first element (as the NCHW path does).
//   2. finalize: one warp per (n, group) combines the blocks' sums in double. (Done instead by the last block of each
//      sample to finish, it made the UNet step slower: one block reducing 132 to 1024 blocks' sums is a serial tail
//      longer than this kernel's launch.)
//   3. apply: 16 bytes per thread, gamma/beta/activation fused.
// Small tensors (the UNet's 8x8 to 32x32 levels: a group of one sample holds at most 32768 f16 values) take one
// kernel instead: a block per (group, sample) loads its group into registers, sums it and normalises it. There the
// three kernels above cost their launch latencies more than their work. Where those blocks would leave
// multiprocessors idle, a cluster of blocks shares each group.
// Groups too large for that but whose tensor fits the multiprocessors' shared memory may take the resident form
// instead of the three kernels (group_norm_resident.cu: one kernel, one grid-wide barrier; opt-in, as it measured
// slower) where the backend gave the norm a barrier.
// An optional term [N, C] (a resnet's time embedding, added before its second norm) is added to x as it is read by
// both kernels, so the sum is never written out.
#include <algorithm>
#include <atomic>
#include <numeric>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/fast_divider.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/tma_ops.cuh"
#include "core/env_flag.h"

namespace sdpp::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxSlots = 8;    // channel pairs per thread: C <= 2 * 8 * 256 = 4096
constexpr int kMaxGroups = 64;

template <class T> struct Pair;
template <> struct Pair<__half> {
  using type = __half2;
  static __device__ float2 load(const __half* p) { return __half22float2(*reinterpret_cast<const __half2*>(p)); }
};
template <> struct Pair<__nv_bfloat16> {
  using type = __nv_bfloat162;
  static __device__ float2 load(const __nv_bfloat16* p) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
  }
};
template <> struct Pair<float> {
  using type = float2;
  static __device__ float2 load(const float* p) { return *reinterpret_cast<const float2*>(p); }
};

// Blocks per sample: about two per multiprocessor at least, and more for large tensors so a block reads about 128 KB
// (the VAE's [1, 128, 512, 512] levels: 512 blocks rather than 256 blocks of twice the work with too few loads in
// flight).
int64_t splits_for(int64_t batch, int64_t pixels, int64_t channels) {
  int64_t s = std::max<int64_t>((264 + batch - 1) / batch, pixels * channels / (int64_t(1) << 16));
  s = std::min<int64_t>({s, pixels, 1024});
  return s < 1 ? 1 : s;
}

// Which forms a norm may take (set_group_norm_kernel):
// - `Small` (the default): the one-kernel form below where a group fits a block's registers, its pixels split over a
//   cluster of up to 4 blocks where one block a group would leave multiprocessors idle; the three kernels elsewhere;
// - `Single`: the one-kernel form with one block a group only (SDPP_CUDA_GN_CLUSTER=0);
// - `Cluster`: as `Small`, and groups too large for one block's registers take a cluster of up to 8 blocks rather than
//   the three kernels (SDPP_CUDA_GN_CLUSTER=large);
// - `Split`: the three kernels only (SDPP_CUDA_GN_SMALL=0);
// - `Resident`: the resident form wherever it applies, before `Small` (SDPP_CUDA_GN_RESIDENT=all).
// With SDPP_CUDA_GN_RESIDENT=1, `Small`, `Single` and `Cluster` try the resident form after their own and before the
// three kernels.
enum class GroupNormKernel { Small, Single, Cluster, Split, Resident };

GroupNormKernel parse_group_norm_kernel(const std::string& name) {
  if (name == "small") return GroupNormKernel::Small;
  if (name == "single") return GroupNormKernel::Single;
  if (name == "cluster") return GroupNormKernel::Cluster;
  if (name == "split") return GroupNormKernel::Split;
  if (name == "resident") return GroupNormKernel::Resident;
  throw Error(ErrorCode::InvalidArgument,
              "group norm kernel '" + name + "' (small, single, cluster, split, resident or default)");
}

GroupNormKernel default_group_norm_kernel() {
  static const GroupNormKernel kernel = [] {
    if (env_is("SDPP_CUDA_GN_SMALL", "0")) return GroupNormKernel::Split;
    if (env_is("SDPP_CUDA_GN_RESIDENT", "all")) return GroupNormKernel::Resident;
    if (env_is("SDPP_CUDA_GN_CLUSTER", "0")) return GroupNormKernel::Single;
    if (env_is("SDPP_CUDA_GN_CLUSTER", "large")) return GroupNormKernel::Cluster;
    return GroupNormKernel::Small;
  }();
  return kernel;
}

std::atomic<GroupNormKernel>& group_norm_kernel() {
  static std::atomic<GroupNormKernel> kernel{default_group_norm_kernel()};
  return kernel;
}

// grid (splits, N): partial[((n * splits + s) * G + g) * 2 + {0, 1}] = shifted sum, sum of squares
template <class T>
__global__ void __launch_bounds__(kThreads) partial_kernel(const T* __restrict__ x, const T* __restrict__ add,
                                                           int64_t pixels, int channels, int groups, int64_t splits,
                                                           float* __restrict__ partial) {
  wait_for_prior_kernel();
  __shared__ float sums[kMaxGroups][2];
  const int64_t n = blockIdx.y, s = blockIdx.x;
  const int cpg = channels / groups, pairs = channels / 2;
  const int64_t chunk = (pixels + splits - 1) / splits;
  const int64_t p0 = s * chunk, p1 = p0 + chunk < pixels ? p0 + chunk : pixels;
  const T* xn = x + n * pixels * channels;
  const T* an = add ? add + n * channels : nullptr;
  // shift: the group's first value (the sums' centre) less this pair's added values, subtracted from each x.
  float shift_x[kMaxSlots], shift_y[kMaxSlots], s1[kMaxSlots], s2[kMaxSlots];
#pragma unroll
  for (int k = 0; k < kMaxSlots; ++k) {
    const int c = 2 * (int(threadIdx.x) + k * kThreads);
    const float centre = c < channels ? value_plus_added(xn, an, (c / cpg) * cpg) : 0.0f;
    shift_x[k] = centre - (an && c < channels ? to_f32(an[c]) : 0.0f);
    shift_y[k] = centre - (an && c < channels ? to_f32(an[c + 1]) : 0.0f);
    s1[k] = s2[k] = 0.0f;
  }
  for (int i = threadIdx.x; i < groups * 2; i += kThreads) sums[i / 2][i % 2] = 0.0f;
  // Unrolled so that several rows' loads are in flight at once (one row holds a single pair per thread at C = 320).
#pragma unroll 8
  for (int64_t p = p0; p < p1; ++p) {
    const T* row = xn + p * channels;
#pragma unroll
    for (int k = 0; k < kMaxSlots; ++k) {
      const int pair = int(threadIdx.x) + k * kThreads;
      if (pair < pairs) {
        const float2 v = Pair<T>::load(row + 2 * pair);
        const float a = v.x - shift_x[k], b = v.y - shift_y[k];
        s1[k] += a + b;
        s2[k] += a * a + b * b;
      }
    }
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < kMaxSlots; ++k) {
    const int c = 2 * (int(threadIdx.x) + k * kThreads);
    if (c < channels) {
      atomicAdd(&sums[c / cpg][0], s1[k]);
      atomicAdd(&sums[c / cpg][1], s2[k]);
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < groups * 2; i += kThreads)
    partial[((n * splits + s) * groups + i / 2) * 2 + i % 2] = sums[i / 2][i % 2];
}

// The same sums with 16-byte loads, for C / G >= 8 / sizeof(T): a thread owns fixed 8-channel (f16) vectors, which
// then span at most two groups (the VAE's 128-channel levels have 4 channels a group: exactly two per vector).
// Threads cover several pixel rows at once when a row has few vectors.
template <class T>
__global__ void __launch_bounds__(kThreads) partial_vec_kernel(const T* __restrict__ x, const T* __restrict__ add,
                                                               int64_t pixels, int channels, int groups, int64_t splits,
                                                               float* __restrict__ partial) {
  wait_for_prior_kernel();
  constexpr int E = 16 / sizeof(T);
  constexpr int kSlots = 2;  // vectors per thread when a row has more than kThreads of them
  __shared__ float sums[kMaxGroups][2];
  const int64_t n = blockIdx.y, s = blockIdx.x;
  const int cpg = channels / groups, vectors = channels / E;
  const int rows_per_pass = vectors >= kThreads ? 1 : kThreads / vectors;
  const int row = int(threadIdx.x) / (vectors >= kThreads ? kThreads : vectors);
  const int v0 = int(threadIdx.x) % (vectors >= kThreads ? kThreads : vectors);
  const int64_t chunk = (pixels + splits - 1) / splits;
  const int64_t p0 = s * chunk, p1 = p0 + chunk < pixels ? p0 + chunk : pixels;
  const T* xn = x + n * pixels * channels;
  const T* an = add ? add + n * channels : nullptr;
  int group_a[kSlots], boundary[kSlots];
  float shift_a[kSlots], shift_b[kSlots], a1[kSlots], a2[kSlots], b1[kSlots], b2[kSlots];
  float added[kSlots][E];  // the added term's values of this thread's vectors (zero without one)
  bool active[kSlots];
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    const int v = v0 + k * kThreads;
    active[k] = row < rows_per_pass && v < vectors && (k == 0 || vectors > kThreads);
    const int c0 = v * E;
    group_a[k] = c0 / cpg;
    boundary[k] = (group_a[k] + 1) * cpg;
    shift_a[k] = active[k] ? value_plus_added(xn, an, group_a[k] * cpg) : 0.0f;
    shift_b[k] = active[k] && boundary[k] < channels ? value_plus_added(xn, an, boundary[k]) : 0.0f;
#pragma unroll
    for (int j = 0; j < E; ++j) added[k][j] = an && active[k] ? to_f32(an[c0 + j]) : 0.0f;
    a1[k] = a2[k] = b1[k] = b2[k] = 0.0f;
  }
  for (int i = threadIdx.x; i < groups * 2; i += kThreads) sums[i / 2][i % 2] = 0.0f;
#pragma unroll 4
  for (int64_t p = p0 + row; p < p1; p += rows_per_pass) {
#pragma unroll
    for (int k = 0; k < kSlots; ++k) {
      if (!active[k]) continue;
      const int c0 = (v0 + k * kThreads) * E;
      const uint4 raw = *reinterpret_cast<const uint4*>(xn + p * channels + c0);
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int j = 0; j < E; ++j) {
        const float val = to_f32(e[j]) + added[k][j];
        if (c0 + j < boundary[k]) {
          const float d = val - shift_a[k];
          a1[k] += d;
          a2[k] += d * d;
        } else {
          const float d = val - shift_b[k];
          b1[k] += d;
          b2[k] += d * d;
        }
      }
    }
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    if (!active[k]) continue;
    atomicAdd(&sums[group_a[k]][0], a1[k]);
    atomicAdd(&sums[group_a[k]][1], a2[k]);
    if (boundary[k] < (v0 + k * kThreads + 1) * E) {  // the vector reaches into the next group
      atomicAdd(&sums[group_a[k] + 1][0], b1[k]);
      atomicAdd(&sums[group_a[k] + 1][1], b2[k]);
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < groups * 2; i += kThreads)
    partial[((n * splits + s) * groups + i / 2) * 2 + i % 2] = sums[i / 2][i % 2];
}

// One warp per (n, g), lanes striding over the blocks' partial sums: stats[(n * G + g) * 2] = mean,
// [... + 1] = 1 / sqrt(var + eps)
template <class T>
__global__ void finalize_kernel(const T* __restrict__ x, const T* __restrict__ add, int64_t pixels, int channels,
                                int groups, int64_t batch, int64_t splits, const float* __restrict__ partial,
                                float* __restrict__ stats, float eps) {
  wait_for_prior_kernel();
  const int64_t i = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (i >= batch * groups) return;
  const int64_t n = i / groups, g = i % groups;
  const int cpg = channels / groups;
  double s1 = 0.0, s2 = 0.0;
  for (int64_t s = lane; s < splits; s += 32) {
    s1 += partial[((n * splits + s) * groups + g) * 2];
    s2 += partial[((n * splits + s) * groups + g) * 2 + 1];
  }
  for (int o = 16; o > 0; o >>= 1) {
    s1 += __shfl_xor_sync(0xffffffffu, s1, o);
    s2 += __shfl_xor_sync(0xffffffffu, s2, o);
  }
  if (lane != 0) return;
  const double m = double(pixels) * cpg;
  const double shifted_mean = s1 / m;
  double var = s2 / m - shifted_mean * shifted_mean;
  if (var < 0.0) var = 0.0;
  const T* an = add ? add + n * channels : nullptr;
  stats[i * 2] = float(double(value_plus_added(x + n * pixels * channels, an, int(g * cpg))) + shifted_mean);
  stats[i * 2 + 1] = float(1.0 / sqrt(var + double(eps)));
}

// One 16-byte vector v of x (channels c0.., of sample n, starting in `group`) normalised into out. With C / G >= half
// a vector, a vector touches at most two groups, so its statistics are two loads (sample_stats: its sample's [G][2]);
// gamma and beta are read as vectors too when they share x's dtype (kTypedAffine).
template <class T, bool kTypedAffine>
__device__ __forceinline__ void apply_vector(const T* __restrict__ x, const T* __restrict__ add, const void* gamma,
                                             DType gt, const void* beta, DType bt, T* __restrict__ out, int64_t v,
                                             int64_t n, int c0, int group, int cpg, int channels,
                                             const float* __restrict__ sample_stats, int act) {
  constexpr int E = 16 / sizeof(T);
  uint4 raw = reinterpret_cast<const uint4*>(x)[v];
  T* e = reinterpret_cast<T*>(&raw);
  float gv[E], bv[E];
  if (kTypedAffine) {
    const uint4 graw = *reinterpret_cast<const uint4*>(static_cast<const T*>(gamma) + c0);
    const uint4 braw = *reinterpret_cast<const uint4*>(static_cast<const T*>(beta) + c0);
#pragma unroll
    for (int j = 0; j < E; ++j) {
      gv[j] = to_f32(reinterpret_cast<const T*>(&graw)[j]);
      bv[j] = to_f32(reinterpret_cast<const T*>(&braw)[j]);
    }
  } else {
#pragma unroll
    for (int j = 0; j < E; ++j) {
      gv[j] = load_f32(gamma, gt, c0 + j);
      bv[j] = load_f32(beta, bt, c0 + j);
    }
  }
  float av[E];
  if (add) {
    const uint4 araw = *reinterpret_cast<const uint4*>(add + n * channels + c0);
#pragma unroll
    for (int j = 0; j < E; ++j) av[j] = to_f32(reinterpret_cast<const T*>(&araw)[j]);
  } else {
#pragma unroll
    for (int j = 0; j < E; ++j) av[j] = 0.0f;
  }
  const int boundary = (group + 1) * cpg;
  const float* sa = sample_stats + group * 2;
  const float mean_a = sa[0], rstd_a = sa[1];
  const float mean_b = boundary < channels ? sa[2] : 0.0f, rstd_b = boundary < channels ? sa[3] : 0.0f;
#pragma unroll
  for (int j = 0; j < E; ++j) {
    const bool first = c0 + j < boundary;
    const float y = (to_f32(e[j]) + av[j] - (first ? mean_a : mean_b)) * (first ? rstd_a : rstd_b) * gv[j] + bv[j];
    e[j] = from_f32<T>(activate_stored<T>(y, act));
  }
  reinterpret_cast<uint4*>(out)[v] = raw;
}

// 16 bytes per thread. Indices are 32-bit (launch_group_norm_cl takes fewer than 2^31 vectors, so the grid stride
// cannot wrap) and divided by invariant divisors (fast_divider.h): with 64-bit division and remainder the 18 SD 1.5
// norms that take this kernel took 149.7 us of a step instead of 123.6 us (H100, twenty-fourth session).
template <class T, bool kTypedAffine>
__global__ void apply_kernel(const T* __restrict__ x, const T* __restrict__ add, const void* gamma, DType gt,
                             const void* beta, DType bt, T* __restrict__ out, uint32_t vectors,
                             FastDivider vectors_per_row, FastDivider vectors_per_sample,
                             FastDivider channels_per_group, int channels, int groups, const float* __restrict__ stats,
                             int act) {
  wait_for_prior_kernel();
  constexpr int E = 16 / sizeof(T);
  for (uint32_t v = blockIdx.x * blockDim.x + threadIdx.x; v < vectors; v += gridDim.x * blockDim.x) {
    const int c0 = int(vectors_per_row.mod(v)) * E;
    const uint32_t n = vectors_per_sample.div(v);
    apply_vector<T, kTypedAffine>(x, add, gamma, gt, beta, bt, out, v, n, c0, int(channels_per_group.div(c0)),
                                  int(channels_per_group.divisor()), channels, stats + n * groups * 2, act);
  }
}

constexpr int kSmallThreads = 1024;
// A thread's values, held in registers between the sums and the normalising: 64 bytes (32 f16 values; f32 ones past
// 16 spilled with 1024 threads a block). A group of one sample takes one block up to kSmallThreads times as many.
template <class T>
constexpr int kSmallHeldValues = 64 / int(sizeof(T));

template <int kBytes> struct Raw;  // a load of kBytes
template <> struct Raw<4> { using type = uint32_t; };
template <> struct Raw<8> { using type = uint2; };
template <> struct Raw<16> { using type = uint4; };

// grid (G, N), one block per group of a sample. A thread takes V channels of the group (the widest of 8, 4 or 2 that
// divides C / G, at most 16 bytes) in every dp-th pixel: the block's size is a multiple of the vectors a pixel's group
// holds, so a thread's channels are the same in each pixel it takes and their gamma, beta and added term stay in
// registers, with no index divided. Its values are loaded once, all loads issued before any is used, and kept in
// registers: the sums, then the normalised values (one FMA each) from the same registers. The first form read in
// channel pairs from shared gamma/beta with two divisions per pair: Nsight Compute found it issuing instructions 70%
// of its active cycles, 12 us for a [2, 640, 32, 32] norm.
//
// With gridDim.z = S > 1 the group's pixels are split over a cluster of S blocks (blockIdx.z, the block's rank in it,
// takes pixels [z block_pixels, (z + 1) block_pixels)): where one block a group leaves multiprocessors idle (SD 1.5's
// 32x32 to 8x8 levels have 64 groups at batch 2 for 132 of them), or where a group outgrows one block's registers. The
// blocks add their sums up through distributed shared memory, each in rank order, so all get the same statistics.
//
// The group's gamma and beta (up to kSmallAffine channels) are copied to shared memory before the wait for the kernel
// before: they are weights, which no kernel writes, so their latency passes under that kernel's tail rather than after
// the statistics. (Held in registers instead, they spilled others.)
constexpr int kSmallAffine = 128;
template <class T, int V>
__global__ void __launch_bounds__(kSmallThreads) small_kernel(const T* __restrict__ x, const T* __restrict__ add,
                                                             const void* gamma, DType gt, const void* beta, DType bt,
                                                             T* __restrict__ out, int pixels, int block_pixels,
                                                             int channels, int groups, float eps, int act) {
  using Vec = typename Raw<V * sizeof(T)>::type;
  constexpr int kHeld = kSmallHeldValues<T> / V;
  __shared__ float partial[kSmallThreads / 32][2];
  __shared__ float stats[2];
  __shared__ double block_sums[2];  // this block's part of the sums, for the cluster's other blocks
  __shared__ float affine[2][kSmallAffine];  // the group's gamma and beta
  const int cpg = channels / groups, per_pixel = cpg / V;
  const int first = int(blockIdx.z) * block_pixels;
  const int last = first + block_pixels < pixels ? first + block_pixels : pixels;  // this block's pixels: [first, last)
  const int p0 = first + int(threadIdx.x) / per_pixel, dp = int(blockDim.x) / per_pixel;  // first pixel, stride
  const int c_group = blockIdx.x * cpg, c = c_group + int(threadIdx.x) % per_pixel * V;  // channels in C
  const bool shared_affine = cpg <= kSmallAffine;
  if (shared_affine && int(threadIdx.x) < cpg) {
    affine[0][threadIdx.x] = load_f32(gamma, gt, c_group + int(threadIdx.x));
    affine[1][threadIdx.x] = load_f32(beta, bt, c_group + int(threadIdx.x));
  }
  wait_for_prior_kernel();
  const int64_t sample = int64_t(blockIdx.y) * pixels * channels;
  const T* an = add ? add + int64_t(blockIdx.y) * channels : nullptr;
  Vec held[kHeld];
#pragma unroll
  for (int k = 0; k < kHeld; ++k) {
    const int p = p0 + k * dp;
    if (p < last) held[k] = *reinterpret_cast<const Vec*>(x + sample + p * channels + c);
  }
  float added[V];
#pragma unroll
  for (int j = 0; j < V; ++j) added[j] = an ? to_f32(an[c + j]) : 0.0f;
  // The sums are taken around the group's first value.
  const float centre = value_plus_added(x + sample, an, c_group);
  float s1 = 0.0f, s2 = 0.0f;
#pragma unroll
  for (int k = 0; k < kHeld; ++k) {
    if (p0 + k * dp < last) {
      const T* e = reinterpret_cast<const T*>(&held[k]);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const float d = to_f32(e[j]) + added[j] - centre;
        s1 += d;
        s2 += d * d;
      }
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    s1 += __shfl_xor_sync(0xffffffffu, s1, o);
    s2 += __shfl_xor_sync(0xffffffffu, s2, o);
  }
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32, warps = int(blockDim.x) / 32;
  if (lane == 0) {
    partial[warp][0] = s1;
    partial[warp][1] = s2;
  }
  __syncthreads();
  double d1 = 0.0, d2 = 0.0;
  if (warp == 0) {
    d1 = lane < warps ? partial[lane][0] : 0.0;
    d2 = lane < warps ? partial[lane][1] : 0.0;
    for (int o = 16; o > 0; o >>= 1) {
      d1 += __shfl_xor_sync(0xffffffffu, d1, o);
      d2 += __shfl_xor_sync(0xffffffffu, d2, o);
    }
  }
  const unsigned parts = gridDim.z;
  if (parts > 1) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if (threadIdx.x == 0) {
      block_sums[0] = d1;
      block_sums[1] = d2;
    }
    cluster_sync();  // every block's sums are in its shared memory
    if (threadIdx.x == 0) {
      d1 = d2 = 0.0;
      for (unsigned r = 0; r < parts; ++r) {
        d1 += load_shared_cluster(&block_sums[0], r);
        d2 += load_shared_cluster(&block_sums[1], r);
      }
    }
#else
    __trap();  // launch_small only clusters where sm_90a code was compiled
#endif
  }
  if (threadIdx.x == 0) {
    const double m = double(pixels) * cpg, shifted_mean = d1 / m;
    double var = d2 / m - shifted_mean * shifted_mean;
    if (var < 0.0) var = 0.0;
    stats[0] = float(double(centre) + shifted_mean);
    stats[1] = float(1.0 / sqrt(var + double(eps)));
  }
  __syncthreads();
  // y = (x + added - mean) * rstd * gamma + beta (not folded into x * scale + shift, whose two large terms lose the
  // result's low bits where the mean is far from zero against the spread)
  float scale[V], shift[V];
  const float mean = stats[0];
#pragma unroll
  for (int j = 0; j < V; ++j) {
    scale[j] = stats[1] * (shared_affine ? affine[0][c - c_group + j] : load_f32(gamma, gt, c + j));
    shift[j] = shared_affine ? affine[1][c - c_group + j] : load_f32(beta, bt, c + j);
  }
#pragma unroll
  for (int k = 0; k < kHeld; ++k) {
    const int p = p0 + k * dp;
    if (p < last) {
      T* e = reinterpret_cast<T*>(&held[k]);
#pragma unroll
      for (int j = 0; j < V; ++j)
        e[j] = from_f32<T>(activate_stored<T>((to_f32(e[j]) + added[j] - mean) * scale[j] + shift[j], act));
      *reinterpret_cast<Vec*>(out + sample + p * channels + c) = held[k];
    }
  }
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  if (parts > 1) cluster_sync();  // the other blocks have read this block's sums: its shared memory may go
#endif
}

// Threads for small_kernel<T, V> on `pixels` pixels a block: a multiple of 32 and of the group's vectors a pixel, as
// many as the group has vectors up to kSmallThreads, enough that no thread holds more than its registers' share; 0
// where none is.
int small_threads(const GroupNormClArgs& a, int64_t pixels, int v, int held_values) {
  const int64_t cpg = a.channels / a.groups, per_pixel = cpg / v;
  const int64_t unit = 32 * per_pixel / std::gcd<int64_t>(32, per_pixel);  // lcm(32, per_pixel)
  if (unit > kSmallThreads) return 0;
  const int64_t threads = std::min<int64_t>(kSmallThreads / unit, (pixels * per_pixel + unit - 1) / unit) * unit;
  const int64_t pixels_per_pass = threads / per_pixel, held = held_values / v;
  return (pixels + pixels_per_pass - 1) / pixels_per_pass <= held ? int(threads) : 0;
}

// How many blocks share a group under `form`: the fewest whose parts fit their registers (one, unless the form lets
// large groups take a cluster), doubled while the grid still fits the multiprocessors once and each part keeps at
// least 64 pixels; 0 where no allowed cluster holds the group. (At SD 1.5's 8x8 level, 64 pixels a group, clusters of
// two took 5.1-5.8 us a call on an H100 against 3.7-4.4 us for one block; the 16x16 and 32x32 levels came out even
// there and faster as clusters on an H200: docs/PERFORMANCE.md, eighteenth session.)
int small_parts(const GroupNormClArgs& a, GroupNormKernel form, int v, int held_values) {
  int most = form == GroupNormKernel::Cluster ? 8 : form == GroupNormKernel::Small ? 4 : 1;
#if !defined(SDPP_CUDA_SM90A)
  most = 1;  // clusters need the sm_90a build (the kernel's cluster barrier and shared-memory loads)
#endif
  if (compute_capability_major() < 9) most = 1;
  auto fits = [&](int parts) { return small_threads(a, (a.pixels + parts - 1) / parts, v, held_values) > 0; };
  int parts = 1;
  while (!fits(parts) && parts < most && form == GroupNormKernel::Cluster) parts *= 2;
  if (!fits(parts)) return 0;
  const int64_t blocks = int64_t(a.groups) * a.batch;
  while (parts < most && blocks * parts * 2 <= multiprocessor_count() && a.pixels >= 64 * parts * 2 &&
         fits(parts * 2))
    parts *= 2;
  return parts;
}

template <class T, int V>
bool launch_small(const GroupNormClArgs& a, GroupNormKernel form, cudaStream_t stream) {
  const int parts = small_parts(a, form, V, kSmallHeldValues<T>);
  if (parts == 0) return false;
  const int64_t block_pixels = (a.pixels + parts - 1) / parts;
  const int threads = small_threads(a, block_pixels, V, kSmallHeldValues<T>);
  launch_dependent_clustered(small_kernel<T, V>, dim3(unsigned(a.groups), unsigned(a.batch), unsigned(parts)),
                             unsigned(threads), 0, dim3(1, 1, unsigned(parts)), stream, static_cast<const T*>(a.x),
                             static_cast<const T*>(a.add), a.gamma, a.gamma_type, a.beta, a.beta_type,
                             static_cast<T*>(a.out), int(a.pixels), int(block_pixels), int(a.channels), a.groups,
                             a.eps, a.activation);
  return true;
}

// True when the group fits one block's registers, or a cluster's (launched); false for the three kernels.
template <class T>
bool launch_small_typed(const GroupNormClArgs& a, GroupNormKernel form, cudaStream_t stream) {
  const int64_t cpg = a.channels / a.groups;
  const int64_t most = form == GroupNormKernel::Cluster ? 8 : 1;
  if (a.pixels * cpg > most * kSmallThreads * kSmallHeldValues<T>) return false;
  if constexpr (sizeof(T) == 2) {
    if (cpg % 8 == 0) return launch_small<T, 8>(a, form, stream);
  }
  if (cpg % 4 == 0) return launch_small<T, 4>(a, form, stream);
  return launch_small<T, 2>(a, form, stream);  // C / G is even (launch_group_norm_cl)
}

// Off by default: measured slower in the recorded step than the three kernels (docs/PERFORMANCE.md, twenty-first
// session).
bool resident_after_small() {
  static const bool on = env_is("SDPP_CUDA_GN_RESIDENT", "1");
  return on;
}

template <class T>
void launch_typed(const GroupNormClArgs& a, GroupNormKernel kernel, cudaStream_t stream) {
  if (kernel == GroupNormKernel::Resident) {
    if (launch_group_norm_resident(a, stream) || launch_small_typed<T>(a, GroupNormKernel::Small, stream)) return;
  } else if (kernel != GroupNormKernel::Split) {
    if (launch_small_typed<T>(a, kernel, stream)) return;
    if (resident_after_small() && launch_group_norm_resident(a, stream)) return;
  }
  const int64_t splits = splits_for(a.batch, a.pixels, a.channels);
  float* partial = a.scratch;
  float* stats = a.scratch + a.batch * splits * a.groups * 2;
  const T* x = static_cast<const T*>(a.x);
  const T* add = static_cast<const T*>(a.add);
  const int64_t e = 16 / int64_t(sizeof(T));
  const dim3 grid{unsigned(splits), unsigned(a.batch)};
  if (a.channels / a.groups >= e / 2 && a.channels / e <= 2 * kThreads)
    launch_dependent(partial_vec_kernel<T>, grid, kThreads, 0, stream, x, add, a.pixels, int(a.channels), a.groups,
                     splits, partial);
  else
    launch_dependent(partial_kernel<T>, grid, kThreads, 0, stream, x, add, a.pixels, int(a.channels), a.groups, splits,
                     partial);
  launch_dependent(finalize_kernel<T>, unsigned((a.batch * a.groups + 3) / 4), 128, 0, stream, x, add, a.pixels,
                   int(a.channels), a.groups, a.batch, splits, partial, stats, a.eps);
  const int64_t vectors = a.batch * a.pixels * a.channels / e;
  const bool typed = affine_as_vectors<T>(a.gamma, a.gamma_type, a.beta, a.beta_type);
  launch_dependent(typed ? apply_kernel<T, true> : apply_kernel<T, false>, blocks_for(vectors, kThreads), kThreads, 0,
                   stream, x, add, a.gamma, a.gamma_type, a.beta, a.beta_type, static_cast<T*>(a.out),
                   uint32_t(vectors), FastDivider(uint32_t(a.channels / e)),
                   FastDivider(uint32_t(a.pixels * a.channels / e)), FastDivider(uint32_t(a.channels / a.groups)),
                   int(a.channels), a.groups, stats, a.activation);
}

}  // namespace

int64_t group_norm_cl_scratch_floats(int64_t batch, int64_t channels, int64_t pixels, int groups) {
  return std::max(batch * splits_for(batch, pixels, channels) * groups * 2 + batch * groups * 2,
                  group_norm_resident_scratch_floats(groups));
}

bool launch_group_norm_cl(const GroupNormClArgs& a, cudaStream_t stream) {
  const int64_t per_vector = 16 / int64_t(dtype_size(a.x_type));
  const bool ok = a.x_type == a.out_type && a.groups <= kMaxGroups && a.channels % a.groups == 0 &&
                  (a.channels / a.groups) % 2 == 0 && a.channels / a.groups >= per_vector / 2 &&
                  a.channels % per_vector == 0 && a.channels <= 2 * kMaxSlots * kThreads && a.batch <= 65535 &&
                  a.batch * a.pixels * a.channels / per_vector < (int64_t(1) << 31) &&  // apply_kernel's 32-bit index
                  aligned16(a.x) && aligned16(a.out) && (!a.add || aligned16(a.add));
  if (!ok || a.batch * a.pixels * a.channels == 0) return false;
  const GroupNormKernel kernel = group_norm_kernel().load();
  if (a.x_type == DType::F16)
    launch_typed<__half>(a, kernel, stream);
  else if (a.x_type == DType::BF16)
    launch_typed<__nv_bfloat16>(a, kernel, stream);
  else
    launch_typed<float>(a, kernel, stream);
  return true;
}

void set_group_norm_kernel(const std::string& kernel) {
  group_norm_kernel().store(kernel == "default" ? default_group_norm_kernel() : parse_group_norm_kernel(kernel));
}

}  // namespace sdpp::cuda
