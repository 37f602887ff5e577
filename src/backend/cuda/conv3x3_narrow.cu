// 3x3 convolutions (stride 1, padding 1) with at most 8 output channels: the UNet's conv_out (320 -> 4) and the VAE
// decoder's (128 -> 3). cuDNN pads such a tensor's channels to 8 and the input's and weights' around its kernel
// (memsets, three padding kernels and a layout change a call: 29 us around an 11.7 us convolution at SD 1.5's 64x64
// level on an H100), and im2col + GEMM writes a column matrix nine times the input.
//
// Here one kernel reads the channels-last input in place: an implicit GEMM on mma.sync m16n8k16, M the output pixels,
// N the (up to 8) output channels, K the 9 taps x C input channels. A warp takes 16 pixels and a quarter of K, loading
// its A fragments straight from global memory (16 bytes a thread: a pixel's 32 channels of one tap are 64 contiguous
// bytes, and the pixels' 3x3 neighbourhoods overlap, so the reads mostly hit L1) with zeros where a tap falls in the
// padding, and its B fragments from the KRSC weights (a few KB, L1-resident). (Loads of 4 bytes, a fragment's
// register each, made a warp's load touch 8 cache lines for 128 bytes: 19.8 us for SD 1.5's conv_out, H200.) The four warps of a pixel tile add their sums in shared
// memory in a fixed order, then write the outputs NCHW: planes of one channel, as the model's caller reads them.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/mma_sync_ops.cuh"

namespace sdpp::cuda {
namespace {

constexpr int kTiles = 2;         // 16-pixel tiles a block
constexpr int kParts = 4;         // K ranges a tile, one warp each
constexpr int kThreads = 32 * kTiles * kParts;
constexpr int kMaxOutputs = 8;    // the MMA's N

// grid: ceil(pixels / (16 kTiles)) blocks. x [n, h, w, c] (c a multiple of 32), w [o, 3, 3, c], out [n, o, h, w].
template <class T>
__global__ void __launch_bounds__(kThreads) conv3x3_narrow_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                                                  const T* __restrict__ bias, T* __restrict__ out,
                                                                  int n, int h, int width, int c, int o) {
  wait_for_prior_kernel();
  __shared__ float partial[kParts][kTiles][32][4];
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int tile = warp % kTiles, part = warp / kTiles;
  const int g = lane / 4, tq = lane % 4;
  const int pixels = n * h * width;
  // The two pixels whose rows of A this thread loads: g and g + 8 of the tile.
  int py[2], px[2];
  const T* base[2];
  bool valid[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int p = (int(blockIdx.x) * kTiles + tile) * 16 + g + 8 * r;
    valid[r] = p < pixels;
    const int q = valid[r] ? p : 0;
    px[r] = q % width;
    py[r] = q / width % h;
    base[r] = x + int64_t(q - px[r] - py[r] * width) * c;  // the image's first pixel
  }
  // B column g: output channel g (zero beyond o).
  const bool has_output = g < o;
  const T* wg = w + int64_t(has_output ? g : 0) * 9 * c;

  // A step is one tap and 32 channels: two k16 MMAs. The MMA's k order within a step is free as long as A and B share
  // it, so thread tq's k pairs (2 tq, 2 tq + 1) and (2 tq + 8, 2 tq + 9) of the first MMA are channels 8 tq .. 8 tq + 3
  // and those of the second 8 tq + 4 .. 8 tq + 7: one 16-byte load a row (and one of the weights) feeds both.
  const int chunks = c / 32, steps = 9 * chunks;
  const int begin = part * steps / kParts, end = (part + 1) * steps / kParts;
  float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll 2
  for (int s = begin; s < end; ++s) {
    const int tap = s / chunks, c0 = (s - tap * chunks) * 32 + 8 * tq;
    const int dy = tap / 3 - 1, dx = tap % 3 - 1;
    uint4 rows[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int yy = py[r] + dy, xx = px[r] + dx;
      const bool inside = valid[r] && yy >= 0 && yy < h && xx >= 0 && xx < width;
      rows[r] = inside ? *reinterpret_cast<const uint4*>(base[r] + (int64_t(yy) * width + xx) * c + c0)
                       : make_uint4(0u, 0u, 0u, 0u);
    }
    const uint4 b = has_output ? *reinterpret_cast<const uint4*>(wg + tap * c + c0) : make_uint4(0u, 0u, 0u, 0u);
    const unsigned a_lo[4] = {rows[0].x, rows[1].x, rows[0].y, rows[1].y};
    const unsigned a_hi[4] = {rows[0].z, rows[1].z, rows[0].w, rows[1].w};
    mma16816<T>(d, a_lo, b.x, b.y);
    mma16816<T>(d, a_hi, b.z, b.w);
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) partial[part][tile][lane][i] = d[i];
  __syncthreads();
  if (part != 0) return;
#pragma unroll
  for (int i = 0; i < 4; ++i)
    for (int k = 1; k < kParts; ++k) d[i] += partial[k][tile][lane][i];
  // d[2 r + e]: pixel g + 8 r of the tile, output channel 2 tq + e.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (!valid[r]) continue;
    const int p = (int(blockIdx.x) * kTiles + tile) * 16 + g + 8 * r;
    const int image = p / (h * width), within = p - image * h * width;
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int ch = 2 * tq + e;
      if (ch < o)
        out[(int64_t(image) * o + ch) * h * width + within] =
            from_f32<T>(d[2 * r + e] + (bias ? to_f32(bias[ch]) : 0.0f));
    }
  }
}

}  // namespace

bool launch_conv3x3_narrow(const void* x, const void* weight, const void* bias, void* out, DType dtype, int64_t n,
                           int64_t h, int64_t w, int64_t c, int64_t o, cudaStream_t stream) {
  if (dtype != DType::F16 && dtype != DType::BF16) return false;
  if (o < 1 || o > kMaxOutputs || c % 32 != 0 || n * h * w < 1 || n * h * w * c > INT32_MAX ||
      int64_t(o) * h * w * n > INT32_MAX)
    return false;
  if (!aligned16(x) || !aligned16(weight)) return false;
  const unsigned blocks = unsigned((n * h * w + 16 * kTiles - 1) / (16 * kTiles));
  if (dtype == DType::F16)
    launch_dependent(conv3x3_narrow_kernel<__half>, blocks, kThreads, 0, stream, static_cast<const __half*>(x),
                     static_cast<const __half*>(weight), static_cast<const __half*>(bias), static_cast<__half*>(out),
                     int(n), int(h), int(w), int(c), int(o));
  else
    launch_dependent(conv3x3_narrow_kernel<__nv_bfloat16>, blocks, kThreads, 0, stream,
                     static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(weight),
                     static_cast<const __nv_bfloat16*>(bias), static_cast<__nv_bfloat16*>(out), int(n), int(h),
                     int(w), int(c), int(o));
  return true;
}

}  // namespace sdpp::cuda
