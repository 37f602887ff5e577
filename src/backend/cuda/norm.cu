// Group and layer normalisation with f32 statistics.
//
// Group norm splits each (n, group) over several blocks: SD's groups hold 40k-300k elements but there are only
// N * 32 of them, far fewer than the GPU has multiprocessors. Partial sums are taken around the group's first
// element (a shift that keeps E[x^2] - E[x]^2 from cancelling), combined in double, then one elementwise pass
// normalises, applies gamma/beta and the fused activation.
#include "backend/cuda/cuda_check.h"
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

// grid (splits, N*G): partial shifted sums of one slice of one group -> partial[(ng * splits + s) * 2 + {0, 1}]
__global__ void group_partial_kernel(const void* x, DType xt, int64_t group_elements, int64_t splits, float* partial) {
  __shared__ float shared[32];
  const int64_t ng = blockIdx.y, s = blockIdx.x;
  const int64_t base = ng * group_elements;
  const int64_t chunk = (group_elements + splits - 1) / splits;
  const int64_t begin = s * chunk;
  const int64_t end = begin + chunk < group_elements ? begin + chunk : group_elements;
  const float shift = load_f32(x, xt, base);
  float s1 = 0.0f, s2 = 0.0f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float d = load_f32(x, xt, base + i) - shift;
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
__global__ void group_finalize_kernel(const void* x, DType xt, int64_t groups_total, int64_t group_elements,
                                      int64_t splits, const float* partial, float* stats, float eps) {
  const int64_t ng = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (ng >= groups_total) return;
  double s1 = 0.0, s2 = 0.0;
  for (int64_t s = 0; s < splits; ++s) {
    s1 += partial[(ng * splits + s) * 2];
    s2 += partial[(ng * splits + s) * 2 + 1];
  }
  const double m = double(group_elements);
  const double shifted_mean = s1 / m;
  double var = s2 / m - shifted_mean * shifted_mean;
  if (var < 0.0) var = 0.0;
  stats[ng * 2] = float(double(load_f32(x, xt, ng * group_elements)) + shifted_mean);
  stats[ng * 2 + 1] = float(1.0 / sqrt(var + double(eps)));
}

__global__ void group_apply_kernel(const void* x, DType xt, const void* gamma, DType gt, const void* beta, DType bt,
                                   void* out, DType ot, int64_t n, int64_t channels, int64_t inner,
                                   int64_t channels_per_group, const float* stats, int act) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t plane = i / inner;  // n * C + c
    const int64_t c = plane % channels;
    const int64_t ng = plane / channels_per_group;
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

}  // namespace

int64_t group_norm_scratch_floats(int64_t batch, int64_t channels, int64_t inner, int groups) {
  const int64_t groups_total = batch * groups;
  const int64_t splits = splits_for(channels / groups * inner);
  return groups_total * splits * 2 + groups_total * 2;
}

void launch_group_norm(const void* x, DType xt, const void* gamma, DType gt, const void* beta, DType bt, void* out,
                       DType ot, int64_t batch, int64_t channels, int64_t inner, int groups, float eps, int act,
                       float* scratch, cudaStream_t stream) {
  const int64_t n = batch * channels * inner;
  if (n == 0) return;
  const int64_t cpg = channels / groups;
  const int64_t group_elements = cpg * inner;
  const int64_t groups_total = batch * groups;
  const int64_t splits = splits_for(group_elements);
  float* partial = scratch;
  float* stats = scratch + groups_total * splits * 2;
  if (groups_total > 65535) throw Error(ErrorCode::Unsupported, "group_norm: more than 65535 (batch x groups)");
  group_partial_kernel<<<dim3(unsigned(splits), unsigned(groups_total)), kThreads, 0, stream>>>(x, xt, group_elements,
                                                                                               splits, partial);
  SDPP_CUDA_CHECK_LAUNCH();
  group_finalize_kernel<<<unsigned((groups_total + 127) / 128), 128, 0, stream>>>(x, xt, groups_total, group_elements,
                                                                                 splits, partial, stats, eps);
  SDPP_CUDA_CHECK_LAUNCH();
  group_apply_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(x, xt, gamma, gt, beta, bt, out, ot, n,
                                                                       channels, inner, cpg, stats, act);
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_layer_norm(const void* x, DType xt, const void* gamma, DType gt, const void* beta, DType bt, void* out,
                       DType ot, int64_t rows, int64_t channels, float eps, cudaStream_t stream) {
  if (rows * channels == 0) return;
  if (rows > 0x7fffffffLL) throw Error(ErrorCode::Unsupported, "layer_norm: more than 2^31 rows");
  const int threads = channels >= 1024 ? 512 : channels >= 256 ? 256 : 128;
  layer_norm_kernel<<<unsigned(rows), threads, 0, stream>>>(x, xt, gamma, gt, beta, bt, out, ot, channels, eps);
  SDPP_CUDA_CHECK_LAUNCH();
}

}  // namespace sdpp::cuda
