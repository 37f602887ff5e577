// Channels-last group norm [N, HW, C] in one kernel whose blocks hold the whole tensor in their shared memory: the
// "resident" form, for the tensors too large for one block a group (group_norm_cl.cu's one-kernel form) that still fit
// the multiprocessors' shared memory together (SD 1.5's 64x64 level: [2, 320..960, 64, 64], 5 to 16 MB).
//
// One block per multiprocessor, each a range of pixels of one sample (every channel: one contiguous piece of memory):
//   1. copy the piece into shared memory (cp.async, all of it in flight at once) and sum it per group, around each
//      group's first value (as the other forms do);
//   2. write the block's sums, wait at a grid-wide barrier until every block has;
//   3. each block adds up its sample's sums (every block in the same order, so all get the same statistics) and
//      normalises its piece from shared memory into the output.
// So x is read from memory once and the output written once, in one launch, where the three-kernel form reads x twice
// and pays three launches and three ramps: Nsight Compute found each of those kernels idle a third of its time
// (docs/PERFORMANCE.md, nineteenth session), about 15 us a call for 5.2 MB.
//
// Measured on an H100 (docs/PERFORMANCE.md, twenty-first session), it lost to the three kernels: 20-23 us a call for
// 5 to 10 MB, 27 us for 16 MB and about 16 us on the smallest tensors, so it is opt-in (SDPP_CUDA_GN_RESIDENT=1, or
// =all to take it before the one-block form too). Not scheduled early by dependent launch unless
// SDPP_CUDA_GN_RESIDENT_PDL=1.
//
// The grid-wide barrier needs every block resident at once: the grid is at most one block per multiprocessor and is
// launched cooperative (the driver then starts it only whole). Its two counters belong to one backend (one stream), so
// calls that may run at the same time never share them.
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/flash_attention_common.cuh"
#include "backend/cuda/kernels.h"
#include "core/env_flag.h"

namespace sdpp::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kMaxGroups = 64;
constexpr int kStaticSharedBytes = 5 * kMaxGroups * int(sizeof(float));  // sums, stats and centres below

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Returns once every block of the grid has called it, with their writes before it visible. barrier[0] counts the
// arrivals; the last to arrive resets it and advances barrier[1], the generation the others wait on, so the pair is
// ready for the next call on the stream. `generation`: barrier[1] as thread 0 read it at the kernel's start (no block
// can advance it before all have arrived), so the arrival is the one memory round trip before the wait.
__device__ void grid_barrier(unsigned* barrier, unsigned blocks, unsigned generation) {
  __syncthreads();  // the block's writes before thread 0's release below
  if (threadIdx.x == 0) {
    unsigned arrived;
    asm volatile("atom.add.release.gpu.global.u32 %0, [%1], 1;\n" : "=r"(arrived) : "l"(barrier) : "memory");
    if (arrived == blocks - 1) {
      asm volatile("st.relaxed.gpu.global.u32 [%0], 0;\n" ::"l"(barrier) : "memory");
      asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(barrier + 1) : "memory");
    } else {
      while (load_acquire(barrier + 1) == generation) __nanosleep(32);
    }
  }
  __syncthreads();
}
#endif

// grid (parts, N), kThreads threads, block_pixels * C * sizeof(T) bytes of dynamic shared memory. A thread owns one
// 16-byte vector of channels [c0, c0 + E) in every rows_per_pass-th pixel of the block's piece, so its gamma, beta,
// added term and statistics stay in registers; with C / G >= E / 2 (launch_group_norm_cl) the vector spans at most
// two groups. partial: [N, parts, G, 2] floats.
template <class T>
__global__ void __launch_bounds__(kThreads, 1)
    resident_kernel(const T* __restrict__ x, const T* __restrict__ add, const void* gamma, DType gt, const void* beta,
                    DType bt, T* __restrict__ out, int pixels, int channels, int groups, int block_pixels, float eps,
                    int act, float* __restrict__ partial, unsigned* barrier) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int E = 16 / int(sizeof(T));
  extern __shared__ uint4 dynamic[];
  float* gamma_s = reinterpret_cast<float*>(dynamic);  // [C]: gamma and beta in shared memory rather than registers,
  float* beta_s = gamma_s + channels;                 // which 1024 threads a multiprocessor need for the rest
  uint4* held = dynamic + channels / 2;                // the block's pixels as loaded, then read again to normalise
  __shared__ float sums[kMaxGroups][2];
  __shared__ float stats[kMaxGroups][2];
  __shared__ float centres[kMaxGroups];  // each group's first value: the sums are taken around it
  const int n = int(blockIdx.y), part = int(blockIdx.x), parts = int(gridDim.x);
  const int first = part * block_pixels;
  const int rows = min(pixels, first + block_pixels) - first;
  const int cpg = channels / groups, per_row = channels / E;
  const int rows_per_pass = kThreads / per_row;
  const int row0 = int(threadIdx.x) / per_row, column = int(threadIdx.x) % per_row, c0 = column * E;
  const bool active = row0 < rows_per_pass;
  // Gamma and beta are weights, which no kernel writes: read before the wait, under the previous kernel's tail.
  for (int c = int(threadIdx.x); c < channels; c += kThreads) {
    gamma_s[c] = load_f32(gamma, gt, c);
    beta_s[c] = load_f32(beta, bt, c);
  }
  for (int i = int(threadIdx.x); i < 2 * groups; i += kThreads) sums[i / 2][i % 2] = 0.0f;
  wait_for_prior_kernel();
  const unsigned generation = threadIdx.x == 0 ? load_acquire(barrier + 1) : 0u;
  const int64_t sample = int64_t(n) * pixels * channels;
  const uint4* src = reinterpret_cast<const uint4*>(x + sample + int64_t(first) * channels);
  const int vectors = rows * per_row;
  for (int v = int(threadIdx.x); v < vectors; v += kThreads) cp_async16(&held[v], src + v, 16);
  cp_async_commit();
  const T* an = add ? add + int64_t(n) * channels : nullptr;
  float added[E];
#pragma unroll
  for (int j = 0; j < E; ++j) added[j] = an ? to_f32(an[c0 + j]) : 0.0f;
  for (int gi = int(threadIdx.x); gi < groups; gi += kThreads) centres[gi] = value_plus_added(x + sample, an, gi * cpg);
  const int ga = c0 / cpg, boundary = (ga + 1) * cpg;
  const bool two = boundary < c0 + E;  // the vector reaches into group ga + 1
  cp_async_wait<0>();
  __syncthreads();
  const float centre_a = centres[ga], centre_b = two ? centres[ga + 1] : 0.0f;

  if (active) {
    float a1 = 0.0f, a2 = 0.0f, b1 = 0.0f, b2 = 0.0f;
    for (int r = row0; r < rows; r += rows_per_pass) {
      const uint4 raw = held[r * per_row + column];
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int j = 0; j < E; ++j) {
        const float v = to_f32(e[j]) + added[j];
        if (c0 + j < boundary) {
          const float d = v - centre_a;
          a1 += d;
          a2 += d * d;
        } else {
          const float d = v - centre_b;
          b1 += d;
          b2 += d * d;
        }
      }
    }
    atomicAdd(&sums[ga][0], a1);
    atomicAdd(&sums[ga][1], a2);
    if (two) {
      atomicAdd(&sums[ga + 1][0], b1);
      atomicAdd(&sums[ga + 1][1], b2);
    }
  }
  __syncthreads();
  float* mine = partial + (int64_t(n) * parts + part) * groups * 2;
  for (int i = int(threadIdx.x); i < 2 * groups; i += kThreads) mine[i] = sums[i / 2][i % 2];
  grid_barrier(barrier, gridDim.x * gridDim.y, generation);

  // `lanes` threads a group (a power of two dividing 32, so a group's lanes share a warp) add up the sample's blocks'
  // sums in double, each a fixed share, loads read past L1 (other multiprocessors wrote them) and issued together.
  int lanes = 32;
  while (lanes > 1 && lanes * groups > kThreads) lanes /= 2;
  const int gi = int(threadIdx.x) / lanes, sub = int(threadIdx.x) % lanes;
  double s1 = 0.0, s2 = 0.0;
  if (gi < groups) {
#pragma unroll 4
    for (int t = sub; t < parts; t += lanes) {
      const float2 p = __ldcg(reinterpret_cast<const float2*>(partial + ((int64_t(n) * parts + t) * groups + gi) * 2));
      s1 += p.x;
      s2 += p.y;
    }
  }
  for (int o = lanes / 2; o > 0; o >>= 1) {
    s1 += __shfl_xor_sync(0xffffffffu, s1, o);
    s2 += __shfl_xor_sync(0xffffffffu, s2, o);
  }
  if (gi < groups && sub == 0) {
    const double m = double(pixels) * cpg, shifted_mean = s1 / m;
    double var = s2 / m - shifted_mean * shifted_mean;
    if (var < 0.0) var = 0.0;
    stats[gi][0] = float(double(centres[gi]) + shifted_mean);
    stats[gi][1] = float(1.0 / sqrt(var + double(eps)));
  }
  __syncthreads();
  if (!active) return;
  // y = (x + (added - mean)) * (rstd * gamma) + beta: the mean taken off before scaling (see group_norm_cl.cu).
  float offset[E], scale[E], shift[E];
#pragma unroll
  for (int j = 0; j < E; ++j) {
    const int gj = c0 + j < boundary ? ga : ga + 1;
    offset[j] = added[j] - stats[gj][0];
    scale[j] = stats[gj][1] * gamma_s[c0 + j];
    shift[j] = beta_s[c0 + j];
  }
  uint4* dst = reinterpret_cast<uint4*>(out + sample + int64_t(first) * channels);
  for (int r = row0; r < rows; r += rows_per_pass) {
    uint4 raw = held[r * per_row + column];
    T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int j = 0; j < E; ++j)
      e[j] = from_f32<T>(activate_stored<T>((to_f32(e[j]) + offset[j]) * scale[j] + shift[j], act));
    dst[r * per_row + column] = raw;
  }
#else
  __trap();  // launch_group_norm_resident launches it on compute capability 8.0 and later only
#endif
}

template <class T>
bool launch_typed(const GroupNormClArgs& a, cudaStream_t stream) {
  constexpr int64_t E = 16 / int64_t(sizeof(T));
  const int64_t sms = multiprocessor_count();
  if (a.channels / E > kThreads || a.groups > kMaxGroups || a.batch > sms) return false;
  const int64_t per_sample = sms / a.batch;  // blocks a sample: at most one per multiprocessor in all
  const int64_t block_pixels = (a.pixels + per_sample - 1) / per_sample;
  const int64_t parts = (a.pixels + block_pixels - 1) / block_pixels;
  const int64_t bytes = block_pixels * a.channels * int64_t(sizeof(T)) + 2 * a.channels * int64_t(sizeof(float));
  const int limit = shared_memory_per_block_optin() - kStaticSharedBytes;
  if (bytes > limit) return false;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_shared_memory(resident_kernel<T>, limit, configured);
  // SDPP_CUDA_GN_COOPERATIVE=0 (comparisons only: without it nothing guarantees the blocks' residency) measured the
  // same step.
  static const bool cooperative = !env_is("SDPP_CUDA_GN_COOPERATIVE", "0");
  // Not scheduled early by dependent launch unless SDPP_CUDA_GN_RESIDENT_PDL=1: its blocks, each taking most of a
  // multiprocessor, would wait there for the kernel before and keep that kernel's later blocks off it (an H100
  // measured the same step either way).
  static const bool pdl = env_is("SDPP_CUDA_GN_RESIDENT_PDL", "1");
  cudaLaunchAttribute attributes[2]{};
  attributes[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[0].val.programmaticStreamSerializationAllowed = pdl && dependent_launch_enabled() ? 1 : 0;
  attributes[1].id = cudaLaunchAttributeCooperative;
  attributes[1].val.cooperative = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(unsigned(parts), unsigned(a.batch));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = size_t(bytes);
  config.stream = stream;
  config.attrs = attributes;
  config.numAttrs = cooperative ? 2 : 1;
  SDPP_CUDA_CHECK(cudaLaunchKernelEx(&config, resident_kernel<T>, static_cast<const T*>(a.x),
                                     static_cast<const T*>(a.add), a.gamma, a.gamma_type, a.beta, a.beta_type,
                                     static_cast<T*>(a.out), int(a.pixels), int(a.channels), a.groups,
                                     int(block_pixels), a.eps, a.activation, a.scratch, a.grid_barrier));
  return true;
}

}  // namespace

int64_t group_norm_resident_scratch_floats(int groups) { return int64_t(multiprocessor_count()) * groups * 2; }

bool launch_group_norm_resident(const GroupNormClArgs& a, cudaStream_t stream) {
  if (!a.grid_barrier || compute_capability_major() < 8) return false;
  if (a.x_type == DType::F16) return launch_typed<__half>(a, stream);
  if (a.x_type == DType::BF16) return launch_typed<__nv_bfloat16>(a, stream);
  return launch_typed<float>(a, stream);
}

}  // namespace sdpp::cuda
