// Group and layer normalisation with f32 statistics (both layouts for group norm: NCHW and channels-last).
//
// Group norm splits each (n, group) over several blocks: SD's groups hold 40k-300k elements but there are only
// N * 32 of them, far fewer than the GPU has multiprocessors. Partial sums are taken around the group's first
// element (a shift that keeps E[x^2] - E[x]^2 from cancelling), combined in double, then one elementwise pass
// normalises, applies gamma/beta and the fused activation.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/kernels.h"

namespace sdpp::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 8192;   // elements per partial-sum block
constexpr int64_t kMaxSplits = 512;

int64_t splits_for(int64_t group_elements) {
  int64_t s = (group_elements + kChunk - 1) / kChunk;
  return s < 1 ? 1 : s > kMaxSplits ? kMaxSplits : s;
}

// Sum over the block of `v`; result valid in every thread. `shared` holds 32 floats.
__device__ float block_sum(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  v = lane < warps ? shared[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Offset of element j (0 <= j < C/G * inner) of group (n, g): NCHW groups are contiguous; channels-last groups are
// C/G channels of every pixel.
template <bool kChannelsLast>
__device__ __forceinline__ int64_t group_element(int64_t n, int64_t g, int64_t j, int64_t channels, int64_t inner,
                                                 int64_t cpg, int64_t groups) {
  if (!kChannelsLast) return (n * groups + g) * cpg * inner + j;
  return (n * inner + j / cpg) * channels + g * cpg + j % cpg;
}

// grid (splits, N*G): partial shifted sums of one slice of one group -> partial[(ng * splits + s) * 2 + {0, 1}]
template <bool kChannelsLast>
__global__ void group_partial_kernel(const void* x, DType xt, int64_t channels, int64_t inner, int64_t cpg,
                                     int64_t groups, int64_t splits, float* partial) {
  __shared__ float shared[32];
  const int64_t ng = blockIdx.y, s = blockIdx.x, n = ng / groups, g = ng % groups;
  const int64_t group_elements = cpg * inner;
  const int64_t chunk = (group_elements + splits - 1) / splits;
  const int64_t begin = s * chunk;
  const int64_t end = begin + chunk < group_elements ? begin + chunk : group_elements;
  const float shift = load_f32(x, xt, group_element<kChannelsLast>(n, g, 0, channels, inner, cpg, groups));
  float s1 = 0.0f, s2 = 0.0f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float d = load_f32(x, xt, group_element<kChannelsLast>(n, g, i, channels, inner, cpg, groups)) - shift;
    s1 += d;
    s2 += d * d;
  }
  s1 = block_sum(s1, shared);
  s2 = block_sum(s2, shared);
  if (threadIdx.x == 0) {
    partial[(ng * splits + s) * 2] = s1;
    partial[(ng * splits + s) * 2 + 1] = s2;
  }
}

// One thread per (n, group): stats[ng * 2] = mean, stats[ng * 2 + 1] = 1 / sqrt(var + eps).
template <bool kChannelsLast>
__global__ void group_finalize_kernel(const void* x, DType xt, int64_t channels, int64_t inner, int64_t cpg,
                                      int64_t groups, int64_t groups_total, int64_t splits, const float* partial,
                                      float* stats, float eps) {
  const int64_t ng = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (ng >= groups_total) return;
  double s1 = 0.0, s2 = 0.0;
  for (int64_t s = 0; s < splits; ++s) {
    s1 += partial[(ng * splits + s) * 2];
    s2 += partial[(ng * splits + s) * 2 + 1];
  }
  const double m = double(cpg * inner);
  const double shifted_mean = s1 / m;
  double var = s2 / m - shifted_mean * shifted_mean;
  if (var < 0.0) var = 0.0;
  const float shift =
      load_f32(x, xt, group_element<kChannelsLast>(ng / groups, ng % groups, 0, channels, inner, cpg, groups));
  stats[ng * 2] = float(double(shift) + shifted_mean);
  stats[ng * 2 + 1] = float(1.0 / sqrt(var + double(eps)));
}

template <bool kChannelsLast>
__global__ void group_apply_kernel(const void* x, DType xt, const void* gamma, DType gt, const void* beta, DType bt,
                                   void* out, DType ot, int64_t n, int64_t channels, int64_t inner,
                                   int64_t channels_per_group, const float* stats, int act) {
  const int64_t groups = channels / channels_per_group;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t c, ng;
    if (kChannelsLast) {
      c = i % channels;
      ng = i / (inner * channels) * groups + c / channels_per_group;
    } else {
      const int64_t plane = i / inner;  // n * C + c
      c = plane % channels;
      ng = plane / channels_per_group;
    }
    const float v = (load_f32(x, xt, i) - stats[ng * 2]) * stats[ng * 2 + 1];
    store_f32(out, ot, i, activate(v * load_f32(gamma, gt, c) + load_f32(beta, bt, c), act));
  }
}

// One block per row: mean, then variance around it, then the affine write (the row stays in L1/L2).
__global__ void layer_norm_kernel(const void* x, DType xt, const void* gamma, DType gt, const void* beta, DType bt,
                                  void* out, DType ot, int64_t channels, float eps) {
  __shared__ float shared[32];
  const int64_t base = int64_t(blockIdx.x) * channels;
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) s += load_f32(x, xt, base + c);
  const float mean = block_sum(s, shared) / float(channels);
  float v = 0.0f;
  for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) {
    const float d = load_f32(x, xt, base + c) - mean;
    v += d * d;
  }
  const float rstd = rsqrtf(block_sum(v, shared) / float(channels) + eps);
  for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) {
    const float d = (load_f32(x, xt, base + c) - mean) * rstd;
    store_f32(out, ot, base + c, d * load_f32(gamma, gt, c) + load_f32(beta, bt, c));
  }
}

// One warp per row, the row held in registers (one read, one write), 16-byte loads: NV vectors of 16 bytes per lane
// cover rows of up to NV * 32 * (16 / sizeof(T)) channels. kTypedAffine: gamma and beta share x's dtype and are read
// as 16-byte vectors too (per-element loads of a run-time dtype cost SDXL's 180 layer norms a step a third more), and
// before the wait for the kernel before: they are weights, which no kernel writes, so their latency passes under that
// kernel's tail rather than after the row's sums.
template <class T, int NV, bool kTypedAffine>
__global__ void layer_norm_warp_kernel(const T* __restrict__ x, const void* gamma, DType gt, const void* beta, DType bt,
                                       T* __restrict__ out, int64_t rows, int channels, float eps) {
  constexpr int E = 16 / sizeof(T);
  const int lane = threadIdx.x % 32;
  const int vectors = channels / E;
  uint4 graw[NV], braw[NV];
  if constexpr (kTypedAffine) {
#pragma unroll
    for (int k = 0; k < NV; ++k) {
      const int vi = lane + 32 * k;
      if (vi < vectors) {
        graw[k] = reinterpret_cast<const uint4*>(gamma)[vi];
        braw[k] = reinterpret_cast<const uint4*>(beta)[vi];
      }
    }
  }
  wait_for_prior_kernel();
  const int64_t row = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const uint4* src = reinterpret_cast<const uint4*>(x + row * channels);
  float v[NV][E];
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    const int vi = lane + 32 * k;
    if (vi < vectors) {
      const uint4 raw = src[vi];
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int j = 0; j < E; ++j) {
        v[k][j] = to_f32(e[j]);
        sum += v[k][j];
      }
    }
  }
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float mean = sum / float(channels);
  float var = 0.0f;
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    if (lane + 32 * k < vectors) {
#pragma unroll
      for (int j = 0; j < E; ++j) var += (v[k][j] - mean) * (v[k][j] - mean);
    }
  }
  for (int o = 16; o > 0; o >>= 1) var += __shfl_xor_sync(0xffffffffu, var, o);
  const float rstd = rsqrtf(var / float(channels) + eps);
  uint4* dst = reinterpret_cast<uint4*>(out + row * channels);
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    const int vi = lane + 32 * k;
    if (vi < vectors) {
      uint4 raw;
      T* e = reinterpret_cast<T*>(&raw);
      if constexpr (kTypedAffine) {
        const T* g = reinterpret_cast<const T*>(&graw[k]);
        const T* b = reinterpret_cast<const T*>(&braw[k]);
#pragma unroll
        for (int j = 0; j < E; ++j) e[j] = from_f32<T>((v[k][j] - mean) * rstd * to_f32(g[j]) + to_f32(b[j]));
      } else {
#pragma unroll
        for (int j = 0; j < E; ++j) {
          const int c = vi * E + j;
          e[j] = from_f32<T>((v[k][j] - mean) * rstd * load_f32(gamma, gt, c) + load_f32(beta, bt, c));
        }
      }
      dst[vi] = raw;
    }
  }
}

template <class T>
bool launch_layer_norm_warp(const void* x, const void* gamma, DType gt, const void* beta, DType bt, void* out,
                            int64_t rows, int64_t channels, float eps, cudaStream_t stream) {
  constexpr int E = 16 / sizeof(T);
  const int64_t per_lane = (channels / E + 31) / 32;
  constexpr int kWarpsPerBlock = 4;
  const unsigned blocks = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  const T* xt = static_cast<const T*>(x);
  T* o = static_cast<T*>(out);
  const int c = int(channels);
  const bool typed = affine_as_vectors<T>(gamma, gt, beta, bt);
  auto launch = [&](auto nv) {
    constexpr int NV = decltype(nv)::value;
    if (typed)
      launch_dependent(layer_norm_warp_kernel<T, NV, true>, blocks, 32 * kWarpsPerBlock, 0, stream, xt, gamma, gt,
                       beta, bt, o, rows, c, eps);
    else
      launch_dependent(layer_norm_warp_kernel<T, NV, false>, blocks, 32 * kWarpsPerBlock, 0, stream, xt, gamma, gt,
                       beta, bt, o, rows, c, eps);
  };
  switch (per_lane) {
    case 1: launch(std::integral_constant<int, 1>()); break;
    case 2: launch(std::integral_constant<int, 2>()); break;
    case 3: case 4: launch(std::integral_constant<int, 4>()); break;
    case 5: launch(std::integral_constant<int, 5>()); break;  // SDXL's 1280 channels in f16/bf16
    case 6: case 7: case 8: launch(std::integral_constant<int, 8>()); break;
    default: return false;
  }
  return true;
}

}  // namespace

int64_t group_norm_scratch_floats(int64_t batch, int64_t channels, int64_t inner, int groups) {
  const int64_t groups_total = batch * groups;
  const int64_t splits = splits_for(channels / groups * inner);
  const int64_t generic = groups_total * splits * 2 + groups_total * 2;
  const int64_t cl = group_norm_cl_scratch_floats(batch, channels, inner, groups);
  return generic > cl ? generic : cl;
}

void launch_group_norm(const void* x, DType xt, const void* gamma, DType gt, const void* beta, DType bt, void* out,
                       DType ot, int64_t batch, int64_t channels, int64_t inner, int groups, float eps, int act,
                       bool channels_last, float* scratch, unsigned* grid_barrier, cudaStream_t stream) {
  const int64_t n = batch * channels * inner;
  if (n == 0) return;
  const int64_t cpg = channels / groups;
  const int64_t groups_total = batch * groups;
  const int64_t splits = splits_for(cpg * inner);
  float* partial = scratch;
  float* stats = scratch + groups_total * splits * 2;
  if (groups_total > 65535) throw Error(ErrorCode::Unsupported, "group_norm: more than 65535 (batch x groups)");
  const dim3 grid{unsigned(splits), unsigned(groups_total)};
  const unsigned finalize_blocks = unsigned((groups_total + 127) / 128);
  if (channels_last && launch_group_norm_cl({x, xt, nullptr, gamma, gt, beta, bt, out, ot, batch, channels, inner,
                                             groups, eps, act, scratch, grid_barrier},
                                            stream))
    return;
  if (channels_last) {
    group_partial_kernel<true><<<grid, kThreads, 0, stream>>>(x, xt, channels, inner, cpg, groups, splits, partial);
    group_finalize_kernel<true><<<finalize_blocks, 128, 0, stream>>>(x, xt, channels, inner, cpg, groups, groups_total,
                                                                     splits, partial, stats, eps);
    group_apply_kernel<true><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(x, xt, gamma, gt, beta, bt, out, ot, n,
                                                                              channels, inner, cpg, stats, act);
  } else {
    group_partial_kernel<false><<<grid, kThreads, 0, stream>>>(x, xt, channels, inner, cpg, groups, splits, partial);
    group_finalize_kernel<false><<<finalize_blocks, 128, 0, stream>>>(x, xt, channels, inner, cpg, groups,
                                                                      groups_total, splits, partial, stats, eps);
    group_apply_kernel<false><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(x, xt, gamma, gt, beta, bt, out, ot,
                                                                               n, channels, inner, cpg, stats, act);
  }
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_layer_norm(const void* x, DType xt, const void* gamma, DType gt, const void* beta, DType bt, void* out,
                       DType ot, int64_t rows, int64_t channels, float eps, cudaStream_t stream) {
  if (rows * channels == 0) return;
  if (rows > 0x7fffffffLL) throw Error(ErrorCode::Unsupported, "layer_norm: more than 2^31 rows");
  // Fast path: one dtype for x and out, rows of whole 16-byte vectors on 16-byte boundaries.
  const bool vectorizable = xt == ot && channels % int64_t(16 / dtype_size(xt)) == 0 &&
                            aligned16(x) && aligned16(out);
  if (vectorizable) {
    bool launched = false;
    if (xt == DType::F16) launched = launch_layer_norm_warp<__half>(x, gamma, gt, beta, bt, out, rows, channels, eps, stream);
    else if (xt == DType::BF16) launched = launch_layer_norm_warp<__nv_bfloat16>(x, gamma, gt, beta, bt, out, rows, channels, eps, stream);
    else launched = launch_layer_norm_warp<float>(x, gamma, gt, beta, bt, out, rows, channels, eps, stream);
    if (launched) {
      SDPP_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  const int threads = channels >= 1024 ? 512 : channels >= 256 ? 256 : 128;
  layer_norm_kernel<<<unsigned(rows), threads, 0, stream>>>(x, xt, gamma, gt, beta, bt, out, ot, channels, eps);
  SDPP_CUDA_CHECK_LAUNCH();
}

}  // namespace sdpp::cuda
