// Memory-bound elementwise kernels: every value passes through f32 in registers, inputs and outputs keep their
// own storage dtype.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/kernels.h"

namespace sdpp::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void convert_kernel(const void* src, DType st, void* dst, DType dt, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store_f32(dst, dt, i, load_f32(src, st, i));
}

__global__ void unary_kernel(const void* x, DType xt, void* out, DType ot, int64_t n, UnaryOp op, int act, float p0,
                             float p1) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = load_f32(x, xt, i);
    float r;
    switch (op) {
      case UnaryOp::Activation: r = activate(v, act); break;
      case UnaryOp::Scale: r = v * p0 + p1; break;
      case UnaryOp::Clamp: r = fminf(fmaxf(v, p0), p1); break;
      default: r = expf(v); break;
    }
    store_f32(out, ot, i, r);
  }
}

__global__ void binary_kernel(const void* a, DType at, const void* b, DType bt, void* out, DType ot, int64_t n,
                              BinaryOp op, Broadcast bc, int64_t inner, int act, int64_t channels) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = bc == Broadcast::Same    ? i
                      : bc == Broadcast::Outer ? i / inner
                      : bc == Broadcast::Inner ? i % inner
                                               : (i / inner) * channels + i % channels;
    const float x = activate(load_f32(a, at, i), act);
    const float y = load_f32(b, bt, j);
    store_f32(out, ot, i, op == BinaryOp::Add ? x + y : x * y);
  }
}

__global__ void bias_residual_kernel(const void* y, DType yt, const void* bias, DType bt, const void* res, DType rt,
                                     void* out, DType ot, int64_t n, int64_t channels, int64_t inner) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = load_f32(y, yt, i);
    if (bias) v += load_f32(bias, bt, (i / inner) % channels);
    if (res) v += load_f32(res, rt, i);
    store_f32(out, ot, i, v);
  }
}

__global__ void lincomb_kernel(LincombInputs in, void* out, DType ot, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float acc = 0.0f;
    for (int k = 0; k < in.count; ++k) acc += in.coeff[k] * load_f32(in.data[k], in.dtype[k], i);
    store_f32(out, ot, i, acc);
  }
}

__global__ void geglu_kernel(const void* x, DType xt, void* out, DType ot, int64_t rows, int64_t f) {
  const int64_t n = rows * f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / f, c = i % f;
    const float hidden = load_f32(x, xt, r * 2 * f + c);
    const float gate = load_f32(x, xt, r * 2 * f + f + c);
    store_f32(out, ot, i, hidden * activate(gate, 2));
  }
}

}  // namespace

void launch_convert(const void* src, DType st, void* dst, DType dt, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  convert_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(src, st, dst, dt, n);
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_unary(const void* x, DType xt, void* out, DType ot, int64_t n, UnaryOp op, int act, float p0, float p1,
                  cudaStream_t stream) {
  if (n == 0) return;
  unary_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(x, xt, out, ot, n, op, act, p0, p1);
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_binary(const void* a, DType at, const void* b, DType bt, void* out, DType ot, int64_t n, BinaryOp op,
                   Broadcast bc, int64_t inner, int act, cudaStream_t stream, int64_t channels) {
  if (n == 0) return;
  binary_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(a, at, b, bt, out, ot, n, op, bc,
                                                                   inner < 1 ? 1 : inner, act,
                                                                   channels < 1 ? 1 : channels);
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_bias_residual(const void* y, DType yt, const void* bias, DType bt, const void* res, DType rt, void* out,
                          DType ot, int64_t batch, int64_t channels, int64_t inner, cudaStream_t stream) {
  const int64_t n = batch * channels * inner;
  if (n == 0) return;
  bias_residual_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(y, yt, bias, bt, res, rt, out, ot, n,
                                                                         channels, inner);
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_lincomb(const LincombInputs& inputs, void* out, DType ot, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  lincomb_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(inputs, out, ot, n);
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_geglu(const void* x, DType xt, void* out, DType ot, int64_t rows, int64_t f, cudaStream_t stream) {
  if (rows * f == 0) return;
  geglu_kernel<<<blocks_for(rows * f, kThreads), kThreads, 0, stream>>>(x, xt, out, ot, rows, f);
  SDPP_CUDA_CHECK_LAUNCH();
}

}  // namespace sdpp::cuda
