// Row softmax for the generic (materialised-scores) attention path: f32 scores in, probabilities in the value
// dtype out, as diffusers' attention does after its upcast.
#include <cfloat>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/kernels.h"

namespace sdpp::cuda {
namespace {

template <bool kMax>
__device__ float block_reduce(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, w) : v + w;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  v = lane < warps ? shared[lane] : (kMax ? -FLT_MAX : 0.0f);
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, w) : v + w;
  }
  return v;
}

__global__ void softmax_rows_kernel(const float* s, void* p, DType pt, int64_t lk, int64_t qph, int64_t q0,
                                    bool causal) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x;
  const float* in = s + row * lk;
  const int64_t query = q0 + row % qph;
  const int64_t limit = causal ? (query + 1 < lk ? query + 1 : lk) : lk;
  float m = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < limit; j += blockDim.x) m = fmaxf(m, in[j]);
  m = block_reduce<true>(m, shared);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < limit; j += blockDim.x) sum += expf(in[j] - m);
  const float inv = 1.0f / block_reduce<false>(sum, shared);
  for (int64_t j = threadIdx.x; j < lk; j += blockDim.x)
    store_f32(p, pt, row * lk + j, j < limit ? expf(in[j] - m) * inv : 0.0f);
}

}  // namespace

void launch_softmax_rows(const float* s, void* p, DType pt, int64_t rows, int64_t lk, int64_t qph, int64_t q0,
                         bool causal, cudaStream_t stream) {
  if (rows * lk == 0) return;
  if (rows > 0x7fffffffLL) throw Error(ErrorCode::Unsupported, "softmax: more than 2^31 rows");
  const int threads = lk >= 1024 ? 512 : lk >= 256 ? 256 : 128;
  softmax_rows_kernel<<<unsigned(rows), threads, 0, stream>>>(s, p, pt, lk, qph, q0, causal);
  SDPP_CUDA_CHECK_LAUNCH();
}

}  // namespace sdpp::cuda
