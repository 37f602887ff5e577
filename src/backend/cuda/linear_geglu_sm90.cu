// The feed-forward projection and GEGLU of a transformer block as one kernel on Hopper's warpgroup MMAs (wgmma), for
// f16/bf16: out[m, f] = (x W_h^T + b_h)[m, f] * gelu((x W_g^T + b_g)[m, f]), where W_h = W[0:F] and W_g = W[F:2F] are
// the two halves of the projection's weight [2F, K] (diffusers' GEGLU). The [M, 2F] projection is never written:
// at SD 1.5's 64x64 level that is 42 MB written by the GEMM and read back by the GEGLU kernel, on every such block.
//
// A block takes 128 rows of x and 64 output features: each of its two warpgroups computes an m64n128 product whose
// columns 0-63 are the 64 hidden features and columns 64-127 the matching gate features, so every thread holds both
// factors of each output it writes. K streams through STAGES shared-memory stages (cp.async) in 64-wide tiles, stored
// as 8x8 core matrices of 128 contiguous bytes without swizzle (row r, 16-byte chunk c at ((r / 8) * 8 + c) * 128 +
// (r % 8) * 16), the layout flash_attention_sm90.cu uses for K-major operands; both operands are read from there.
// The outputs are staged through shared memory so that they leave in whole 128-byte rows.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/flash_attention_common.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/wgmma_ops.cuh"
#include "backend/cuda/wgmma_util.cuh"

namespace sdpp::cuda {
namespace {

constexpr int kRows = 128;                    // rows of x a block takes: two warpgroups of 64
constexpr int kFeatures = 64;                 // output features a block takes
constexpr int kTileK = 64;                    // K of one stage
constexpr int kThreads = 256;
constexpr int kChunks = kTileK / 8;           // 16-byte chunks of a tile row
constexpr int kTileBytes = 128 * kTileK * 2;  // 128 rows: of x, or 64 hidden then 64 gate rows of W
constexpr int kStageBytes = 2 * kTileBytes;
constexpr int kOutStride = kFeatures + 8;     // staged output row, in elements: 16 bytes of padding against conflicts
static_assert(kChunks * 8 == kTileK && kTileK % 16 == 0, "whole chunks, whole k16 steps");
static_assert(kRows * kOutStride * 2 <= kStageBytes, "the staged outputs fit where the first stage was");

template <class T, int STAGES, int MINB>
__global__ void __launch_bounds__(kThreads, MINB)
    linear_geglu_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                        T* __restrict__ out, int rows, int k, int features) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  static_assert(STAGES >= 3, "a stage is refilled only after the product two tiles back has finished");
  wait_for_prior_kernel();
  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x, wg = tid / 128, warp = tid % 128 / 32, lane = tid % 32;
  const int g = lane / 4, tq = lane % 4;
  const int row0 = int(blockIdx.y) * kRows, f0 = int(blockIdx.x) * kFeatures;
  const int ktiles = k / kTileK;

  // One cp.async group per tile index, empty past the last tile, so that wait counts stay uniform.
  auto load_tile = [&](int kt) {
    if (kt < ktiles) {
      unsigned char* a_tile = smem + (kt % STAGES) * kStageBytes;
      unsigned char* b_tile = a_tile + kTileBytes;
      const int k0 = kt * kTileK;
#pragma unroll
      for (int it = 0; it < 128 * kChunks / kThreads; ++it) {
        const int i = tid + it * kThreads, r = i / kChunks, c = i % kChunks;
        const int at = ((r / 8) * kChunks + c) * 128 + (r % 8) * 16;
        const bool inside = row0 + r < rows;  // rows past the end load zeros, and their outputs are dropped
        cp_async16(a_tile + at, x + int64_t(inside ? row0 + r : 0) * k + k0 + c * 8, inside ? 16 : 0);
        cp_async16(b_tile + at, w + int64_t(r < 64 ? f0 + r : features + f0 + r - 64) * k + k0 + c * 8, 16);
      }
    }
    cp_async_commit();
  };
  for (int i = 0; i < STAGES - 2; ++i) load_tile(i);

  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 3>();  // tile kt has landed ...
    fence_async_shared();
    __syncthreads();  // ... for every thread's copies; and both warpgroups are done with tile kt - 2's stage
    load_tile(kt + STAGES - 2);
    const unsigned char* a_tile = smem + (kt % STAGES) * kStageBytes;
    const unsigned char* b_tile = a_tile + kTileBytes;
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kTileK / 16; ++ks)
      WgmmaSS<T, 128>::ss(acc, smem_desc(a_tile + wg * 8 * kChunks * 128 + ks * 256, 128, kChunks * 128),
                          smem_desc(b_tile + ks * 256, 128, kChunks * 128), 1);
    wgmma_commit();
    wgmma_wait<1>();
  }
  wgmma_wait<0>();
  fence_registers(acc);
  cp_async_wait<0>();
  __syncthreads();  // every stage read: the outputs go where the first stage was

  // Accumulator n8 block j holds columns 8j + 2tq, +1 of rows g and g + 8 of this warp's 16: blocks 0-7 the hidden
  // features, 8-15 their gates.
  T* staged = reinterpret_cast<T*>(smem);
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int col = j * 8 + 2 * tq;
    float bh[2] = {0.0f, 0.0f}, bg[2] = {0.0f, 0.0f};
    if (bias) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        bh[e] = to_f32(bias[f0 + col + e]);
        bg[e] = to_f32(bias[features + f0 + col + e]);
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = wg * 64 + warp * 16 + g + r * 8;
      float y[2];
#pragma unroll
      for (int e = 0; e < 2; ++e)
        y[e] = (acc[4 * j + 2 * r + e] + bh[e]) * activate(acc[4 * (j + 8) + 2 * r + e] + bg[e], 2 /* erf GELU */);
      *reinterpret_cast<unsigned*>(staged + row * kOutStride + col) = pack2<T>(y[0], y[1]);
    }
  }
  __syncthreads();
  for (int i = tid; i < kRows * (kFeatures / 8); i += kThreads) {
    const int r = i / (kFeatures / 8), c = i % (kFeatures / 8);
    if (row0 + r < rows)
      *reinterpret_cast<uint4*>(out + int64_t(row0 + r) * features + f0 + c * 8) =
          *reinterpret_cast<const uint4*>(staged + r * kOutStride + c * 8);
  }
#else
  __trap();  // launch_linear_geglu_sm90 only launches this where sm_90a code was compiled
#endif
}

template <class T, int STAGES, int MINB>
void launch(const void* x, const void* w, const void* bias, void* out, int64_t rows, int64_t k, int64_t features,
            cudaStream_t stream) {
  constexpr int bytes = STAGES * kStageBytes;
  const auto kernel = linear_geglu_kernel<T, STAGES, MINB>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_shared_memory(kernel, bytes, configured);
  const dim3 grid(unsigned(features / kFeatures), unsigned((rows + kRows - 1) / kRows));
  launch_dependent(kernel, grid, kThreads, bytes, stream, static_cast<const T*>(x), static_cast<const T*>(w),
                   static_cast<const T*>(bias), static_cast<T*>(out), int(rows), int(k), int(features));
}

// The two variants: three stages with two blocks a multiprocessor (the blocks' loads and products interleave), and
// four stages with one. Which is faster depends on the shape; the caller times them.
template <class T>
void launch_variant(int variant, const void* x, const void* w, const void* bias, void* out, int64_t rows, int64_t k,
                    int64_t features, cudaStream_t stream) {
  if (variant == 0)
    launch<T, 3, 2>(x, w, bias, out, rows, k, features, stream);
  else
    launch<T, 4, 1>(x, w, bias, out, rows, k, features, stream);
}

}  // namespace

bool launch_linear_geglu_sm90(const void* x, const void* w, const void* bias, void* out, DType dtype, int64_t rows,
                              int64_t k, int64_t features, int variant, cudaStream_t stream) {
#if defined(SDPP_CUDA_SM90A)
  if (dtype != DType::F16 && dtype != DType::BF16) return false;
  if (rows <= 0 || k <= 0 || k % kTileK != 0 || features <= 0 || features % kFeatures != 0) return false;
  if ((rows + kRows - 1) / kRows > 65535 || k > INT32_MAX || 2 * features > INT32_MAX) return false;
  if (!aligned16(x) || !aligned16(w) || !aligned16(out)) return false;
  if (dtype == DType::F16)
    launch_variant<__half>(variant, x, w, bias, out, rows, k, features, stream);
  else
    launch_variant<__nv_bfloat16>(variant, x, w, bias, out, rows, k, features, stream);
  return true;
#else
  (void)x, (void)w, (void)bias, (void)out, (void)dtype, (void)rows, (void)k, (void)features, (void)variant;
  (void)stream;
  return false;
#endif
}

}  // namespace sdpp::cuda
