// Checks the host model of curand's Box-Muller (src/core/philox_device_math.cpp) against the GPU:
//   1. device_logf against logf for every distinct uniform u curand can produce (exhaustive);
//   2. device_sinf against __sinf for every distinct angle v (exhaustive);
//   3. box_muller_first against curand_normal4's first value for 2^22 threads x several seeds and offsets.
// Prints counts of differing values and the worst absolute differences. Run: scripts/device/philox_validate.sh
#include <cuda_runtime.h>
#include <curand_kernel.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/philox_device_math.h"

#define CHECK(x)                                                                      \
  do {                                                                                \
    cudaError_t e_ = (x);                                                             \
    if (e_ != cudaSuccess) {                                                          \
      std::fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

namespace {

constexpr uint64_t kDistinct = (1ull << 24) + 8ull * (1ull << 23) + 1;  // distinct float(y), y < 2^32

__host__ __device__ float distinct_float_of_u32(uint64_t index) {
  if (index < (1u << 24)) return float(uint32_t(index));
  const uint64_t j = index - (1u << 24);
  if (j >= 8ull << 23) return 4294967296.0f;
  uint32_t bits = ((24u + uint32_t(j >> 23) + 127u) << 23) | uint32_t(j & ((1u << 23) - 1));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

__global__ void transcendental(float* logs, float* sines) {
  const uint64_t i = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= kDistinct) return;
  const float f = distinct_float_of_u32(i);
  logs[i] = logf(__fmaf_rn(f, CURAND_2POW32_INV, CURAND_2POW32_INV / 2));
  sines[i] = __sinf(__fmaf_rn(f, CURAND_2POW32_INV_2PI, CURAND_2POW32_INV_2PI / 2));
}

__global__ void normals(unsigned long long seed, unsigned long long offset, uint32_t n, uint32_t* raw, float* first) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  curandStatePhilox4_32_10_t state;
  curand_init(seed, i, offset, &state);
  curandStatePhilox4_32_10_t copy = state;
  const uint4 r = curand4(&copy);
  const float4 g = curand_normal4(&state);
  raw[2 * i] = r.x;
  raw[2 * i + 1] = r.y;
  first[i] = g.x;
}

}  // namespace

int main() {
  float *d_logs, *d_sines;
  CHECK(cudaMalloc(&d_logs, kDistinct * 4));
  CHECK(cudaMalloc(&d_sines, kDistinct * 4));
  transcendental<<<unsigned((kDistinct + 255) / 256), 256>>>(d_logs, d_sines);
  CHECK(cudaGetLastError());
  std::vector<float> logs(kDistinct), sines(kDistinct);
  CHECK(cudaMemcpy(logs.data(), d_logs, kDistinct * 4, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(sines.data(), d_sines, kDistinct * 4, cudaMemcpyDeviceToHost));
  uint64_t log_diff = 0, sin_diff = 0;
  double log_worst = 0, sin_worst = 0;
  for (uint64_t i = 0; i < kDistinct; ++i) {
    const float f = distinct_float_of_u32(i);
    const float u = std::fma(f, 2.3283064e-10f, 2.3283064e-10f / 2);
    const float v = std::fma(f, 2.3283064e-10f * 6.2831855f, 2.3283064e-10f * 6.2831855f / 2);
    const float l = sdpp::philox::device_logf(u), s = sdpp::philox::device_sinf(v);
    if (std::memcmp(&l, &logs[i], 4)) {
      ++log_diff;
      log_worst = std::fmax(log_worst, std::fabs(double(l) - logs[i]));
    }
    if (std::memcmp(&s, &sines[i], 4)) {
      ++sin_diff;
      sin_worst = std::fmax(sin_worst, std::fabs(double(s) - sines[i]));
    }
  }
  std::printf("logf: %llu of %llu distinct u differ, worst %.3g\n", (unsigned long long)log_diff,
              (unsigned long long)kDistinct, log_worst);
  std::printf("sinf: %llu of %llu distinct v differ, worst %.3g (2^%.2f)\n", (unsigned long long)sin_diff,
              (unsigned long long)kDistinct, sin_worst, std::log2(sin_worst));

  const uint32_t n = 1u << 22;
  uint32_t* d_raw;
  float* d_first;
  CHECK(cudaMalloc(&d_raw, n * 8));
  CHECK(cudaMalloc(&d_first, n * 4));
  std::vector<uint32_t> raw(2 * n);
  std::vector<float> first(n);
  uint64_t total = 0, differ = 0;
  double worst = 0;
  const unsigned long long seeds[] = {0, 1, 42, 4294967301ull, 123456789, 0xDEADBEEFCAFEull, 7777777, 31337};
  for (unsigned long long seed : seeds) {
    for (unsigned long long offset : {0ull, 4ull, 1000ull}) {
      normals<<<(n + 255) / 256, 256>>>(seed, offset, n, d_raw, d_first);
      CHECK(cudaGetLastError());
      CHECK(cudaMemcpy(raw.data(), d_raw, n * 8, cudaMemcpyDeviceToHost));
      CHECK(cudaMemcpy(first.data(), d_first, n * 4, cudaMemcpyDeviceToHost));
      for (uint32_t i = 0; i < n; ++i) {
        const float host = sdpp::philox::box_muller_first(raw[2 * i], raw[2 * i + 1]);
        ++total;
        if (std::memcmp(&host, &first[i], 4)) {
          ++differ;
          worst = std::fmax(worst, std::fabs(double(host) - first[i]));
        }
      }
    }
  }
  std::printf("curand_normal4 first value: %llu of %llu differ, worst %.3g\n", (unsigned long long)differ,
              (unsigned long long)total, worst);
  return 0;
}
