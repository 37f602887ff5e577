// Memory-bound elementwise kernels: every value passes through f32 in registers, inputs and outputs keep their
// own storage dtype.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/fast_divider.h"
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
      // NaN stays NaN, as in torch.clamp and the cpu backend (fmaxf would make it lo): a NaN image must be seen.
      case UnaryOp::Clamp: r = v < p0 ? p0 : (v > p1 ? p1 : v); break;
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

// ---- 16-byte fast paths for the common case: one dtype throughout, aligned, whole vectors ----

template <class T>
__global__ void binary_vec_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                                  int64_t vectors, BinaryOp op, Broadcast bc, int64_t inner, int act,
                                  int64_t channels) {
  wait_for_prior_kernel();
  constexpr int E = 16 / sizeof(T);
  for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < vectors; v += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = v * E;
    const int64_t j = bc == Broadcast::Same    ? i
                      : bc == Broadcast::Inner ? i % inner
                                               : (i / inner) * channels + i % channels;
    uint4 ra = reinterpret_cast<const uint4*>(a)[v];
    const uint4 rb = *reinterpret_cast<const uint4*>(b + j);
    T* ea = reinterpret_cast<T*>(&ra);
    const T* eb = reinterpret_cast<const T*>(&rb);
#pragma unroll
    for (int k = 0; k < E; ++k) {
      const float x = activate(to_f32(ea[k]), act), y = to_f32(eb[k]);
      ea[k] = from_f32<T>(op == BinaryOp::Add ? x + y : x * y);
    }
    reinterpret_cast<uint4*>(out)[v] = ra;
  }
}

// out[r, c] = x[r, c] * gelu(x[r, f + c]), 16 bytes a thread; the flat index is split by `per_row` (f / E) with a
// FastDivider (launch_geglu keeps the vectors below 2^31, so the grid stride cannot wrap).
template <class T>
__global__ void geglu_vec_kernel(const T* __restrict__ x, T* __restrict__ out, uint32_t vectors, FastDivider per_row,
                                 uint32_t f) {
  wait_for_prior_kernel();
  constexpr int E = 16 / sizeof(T);
  for (uint32_t v = blockIdx.x * blockDim.x + threadIdx.x; v < vectors; v += gridDim.x * blockDim.x) {
    const uint32_t row = per_row.div(v), c = (v - row * per_row.divisor()) * E;
    const size_t r = row;
    uint4 h = *reinterpret_cast<const uint4*>(x + r * 2 * f + c);
    const uint4 g = *reinterpret_cast<const uint4*>(x + r * 2 * f + f + c);
    T* eh = reinterpret_cast<T*>(&h);
    const T* eg = reinterpret_cast<const T*>(&g);
#pragma unroll
    for (int k = 0; k < E; ++k) eh[k] = from_f32<T>(to_f32(eh[k]) * activate_stored<T>(to_f32(eg[k]), 2));
    *reinterpret_cast<uint4*>(out + r * f + c) = h;
  }
}

template <class F>
void by_float_type(DType t, F&& f) {
  if (t == DType::F16) f(__half{});
  else if (t == DType::BF16) f(__nv_bfloat16{});
  else f(float{});
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
  const int64_t e = 16 / int64_t(dtype_size(at));
  const bool vec = at == bt && at == ot && n % e == 0 && aligned16(a) && aligned16(b) && aligned16(out) &&
                   (bc == Broadcast::Same || (bc == Broadcast::Inner && inner % e == 0) ||
                    (bc == Broadcast::ChannelsLast && channels % e == 0));
  if (vec) {
    by_float_type(at, [&](auto tag) {
      using T = decltype(tag);
      launch_dependent(binary_vec_kernel<T>, blocks_for(n / e, kThreads), kThreads, 0, stream,
                       static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), n / e, op, bc,
                       inner < 1 ? 1 : inner, act, channels < 1 ? 1 : channels);
    });
    return;
  }
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
  const int64_t e = 16 / int64_t(dtype_size(xt));
  if (xt == ot && f % e == 0 && rows * f / e < (int64_t(1) << 31) && aligned16(x) && aligned16(out)) {
    by_float_type(xt, [&](auto tag) {
      using T = decltype(tag);
      launch_dependent(geglu_vec_kernel<T>, blocks_for(rows * f / e, kThreads), kThreads, 0, stream,
                       static_cast<const T*>(x), static_cast<T*>(out), uint32_t(rows * f / e),
                       FastDivider(uint32_t(f / e)), uint32_t(f));
    });
    return;
  }
  geglu_kernel<<<blocks_for(rows * f, kThreads), kThreads, 0, stream>>>(x, xt, out, ot, rows, f);
  SDPP_CUDA_CHECK_LAUNCH();
}

namespace {
__global__ void busy_wait_kernel(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}
}  // namespace

void launch_busy_wait(int microseconds, cudaStream_t stream) {
  busy_wait_kernel<<<1, 1, 0, stream>>>((long long)clock_rate_khz() * microseconds / 1000);
  SDPP_CUDA_CHECK_LAUNCH();
}

}  // namespace sdpp::cuda
