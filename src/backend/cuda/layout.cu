// Data-movement kernels. They only copy elements, so they are written per element size, not per dtype.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/fast_divider.h"
#include "backend/cuda/kernels.h"

namespace sdpp::cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void upsample_kernel(const T* x, T* out, int64_t n, int64_t height, int64_t width) {
  const int64_t ow = width * 2, oh = height * 2;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t xo = i % ow, yo = (i / ow) % oh, plane = i / (ow * oh);
    out[i] = x[(plane * height + yo / 2) * width + xo / 2];
  }
}

template <class T>
__global__ void upsample_cl_kernel(const T* x, T* out, int64_t n, int64_t height, int64_t width, int64_t channels) {
  const int64_t ow = width * 2, oh = height * 2;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % channels, pixel = i / channels;
    const int64_t xo = pixel % ow, yo = (pixel / ow) % oh, batch = pixel / (ow * oh);
    out[i] = x[((batch * height + yo / 2) * width + xo / 2) * channels + c];
  }
}

// 16 bytes per thread when a pixel's channels are a whole number of 16-byte vectors (every SD channel count): one
// thread per output vector; integer division once per vector rather than per element.
__global__ void upsample_cl_vec_kernel(const uint4* x, uint4* out, int64_t n, int64_t height, int64_t width,
                                       int64_t vectors_per_pixel) {
  wait_for_prior_kernel();
  const int64_t ow = width * 2, oh = height * 2;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = i % vectors_per_pixel, pixel = i / vectors_per_pixel;
    const int64_t xo = pixel % ow, rest = pixel / ow;
    const int64_t yo = rest % oh, batch = rest / oh;
    out[i] = x[((batch * height + yo / 2) * width + xo / 2) * vectors_per_pixel + v];
  }
}

// interleave_phases (ops.h): output pixel (2i+a, 2j+b) takes phase p = 2a + b of y's pixel (i+a, j+b). Channels-last,
// `Unit` a 16-byte vector where a pixel's channels are a whole number of them, else one element; channels counted in
// units.
template <class Unit>
__global__ void interleave_phases_cl_kernel(const Unit* y, Unit* out, int64_t n, int64_t y_h, int64_t y_w,
                                            int64_t out_h, int64_t out_w, int64_t channels) {
  wait_for_prior_kernel();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % channels, pixel = i / channels;
    const int64_t ox = pixel % out_w, rest = pixel / out_w;
    const int64_t oy = rest % out_h, batch = rest / out_h;
    const int64_t a = oy & 1, b = ox & 1;
    out[i] = y[((batch * y_h + (oy >> 1) + a) * y_w + (ox >> 1) + b) * 4 * channels + (2 * a + b) * channels + c];
  }
}

// The same for 16-byte units in 32-bit indices (launch_interleave_phases keeps n below 2^31): the flat index is split
// by FastDividers. The 64-bit divisions of the kernel above cost more instructions than the copy.
__global__ void interleave_phases_cl_vec_kernel(const uint4* y, uint4* out, uint32_t n, uint32_t y_h, uint32_t y_w,
                                                FastDivider units, FastDivider out_w, FastDivider out_h) {
  wait_for_prior_kernel();
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const uint32_t pixel = units.div(i), c = i - pixel * units.divisor();
    const uint32_t rest = out_w.div(pixel), ox = pixel - rest * out_w.divisor();
    const uint32_t batch = out_h.div(rest), oy = rest - batch * out_h.divisor();
    const uint32_t a = oy & 1, b = ox & 1;
    const size_t y_pixel = (size_t(batch) * y_h + (oy >> 1) + a) * y_w + (ox >> 1) + b;
    out[i] = y[(y_pixel * 4 + 2 * a + b) * units.divisor() + c];
  }
}

// The same for NCHW data: one element per thread.
template <class T>
__global__ void interleave_phases_kernel(const T* y, T* out, int64_t n, int64_t channels, int64_t y_h, int64_t y_w,
                                         int64_t out_h, int64_t out_w) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ox = i % out_w, oy = (i / out_w) % out_h, c = (i / (out_w * out_h)) % channels;
    const int64_t batch = i / (out_w * out_h * channels);
    const int64_t a = oy & 1, b = ox & 1;
    out[i] = y[((batch * 4 + 2 * a + b) * channels + c) * y_h * y_w + ((oy >> 1) + a) * y_w + (ox >> 1) + b];
  }
}

// NHWC im2col, 16 bytes per thread: col[p, (r * kw + s) * C + c] = x[n, ho * stride - pad_h + r,
// wo * stride - pad_w + s, c] (zero outside), p = (n * Ho + ho) * Wo + wo. Element i of col (in vectors) is
// ((p * kh * kw) + tap) * vectors_per_pixel + v, so each thread derives its source from its own index, in 32-bit
// arithmetic with FastDividers where the column matrix allows (four divisions a vector: 64-bit ones cost more than
// the copy).
template <class Index, class Divider>
__global__ void im2col_nhwc_kernel(const uint4* x, uint4* col, Index total, Index height, Index width,
                                   Divider vectors_per_pixel, Divider taps, int kw, int stride, int pad_h, int pad_w,
                                   Divider out_h, Divider out_w) {
  wait_for_prior_kernel();
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < total; i += Index(gridDim.x) * blockDim.x) {
    const Index rest = vectors_per_pixel.div(i), v = i - rest * vectors_per_pixel.divisor();
    const Index p = taps.div(rest);
    const int tap = int(rest - p * taps.divisor());
    const Index t = out_w.div(p), wo = p - t * out_w.divisor();
    const Index n = out_h.div(t), ho = t - n * out_h.divisor();
    const int64_t y = int64_t(ho) * stride - pad_h + tap / kw, xx = int64_t(wo) * stride - pad_w + tap % kw;
    col[i] = y >= 0 && y < int64_t(height) && xx >= 0 && xx < int64_t(width)
                 ? x[((int64_t(n) * height + y) * width + xx) * vectors_per_pixel.divisor() + v]
                 : make_uint4(0, 0, 0, 0);
  }
}

// out row r = [source 0's row r | source 1's row r | ...] in 16-byte vectors: the channel concatenation of
// channels-last data (the UNet's skip connections). One kernel for every source: a traced SD 1.5 step on an H100
// spent 0.127 ms in the 25 2-d copies this replaces, 0.105 ms in this kernel moving one vector a thread, 0.067 ms
// with kConcatPerThread vectors a block-width apart, all loads issued before the stores.
constexpr int kConcatPerThread = 4;
constexpr int kMaxConcatSources = 4;
struct ConcatRowSources {  // the kernel's argument, passed by value
  const void* data[kMaxConcatSources];
  uint32_t vectors[kMaxConcatSources];  // 16-byte vectors of one row
  int count;
};
__global__ void concat_rows_kernel(ConcatRowSources sources, uint4* __restrict__ out, uint32_t total,
                                   FastDivider out_vectors) {
  wait_for_prior_kernel();
  const uint32_t first = blockIdx.x * blockDim.x * kConcatPerThread + threadIdx.x;
  uint4 v[kConcatPerThread];
#pragma unroll
  for (int u = 0; u < kConcatPerThread; ++u) {
    const uint32_t i = first + u * blockDim.x;
    if (i < total) {
      const uint32_t row = out_vectors.div(i);
      uint32_t column = i - row * out_vectors.divisor();
      int k = 0;
      while (k + 1 < sources.count && column >= sources.vectors[k]) column -= sources.vectors[k++];
      v[u] = static_cast<const uint4*>(sources.data[k])[row * sources.vectors[k] + column];
    }
  }
#pragma unroll
  for (int u = 0; u < kConcatPerThread; ++u) {
    const uint32_t i = first + u * blockDim.x;
    if (i < total) out[i] = v[u];
  }
}

// 32x32 tiles through shared memory so both the read and the write are coalesced.
template <class T>
__global__ void transpose_kernel(const T* in, T* out, int64_t rows, int64_t cols) {
  __shared__ T tile[32][33];
  const int64_t b = blockIdx.z;
  const T* src = in + b * rows * cols;
  T* dst = out + b * rows * cols;
  for (int64_t r0 = int64_t(blockIdx.y) * 32; r0 < rows; r0 += int64_t(gridDim.y) * 32) {
    const int64_t c0 = int64_t(blockIdx.x) * 32;
    for (int j = threadIdx.y; j < 32; j += blockDim.y) {
      const int64_t r = r0 + j, c = c0 + threadIdx.x;
      if (r < rows && c < cols) tile[j][threadIdx.x] = src[r * cols + c];
    }
    __syncthreads();
    for (int j = threadIdx.y; j < 32; j += blockDim.y) {
      const int64_t c = c0 + j, r = r0 + threadIdx.x;
      if (r < rows && c < cols) dst[c * rows + r] = tile[threadIdx.x][j];
    }
    __syncthreads();
  }
}

template <class T>
__global__ void pad2d_kernel(const T* in, T* out, int64_t n, int64_t height, int64_t width, int top, int left,
                             int64_t oh, int64_t ow) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t xo = i % ow, yo = (i / ow) % oh, plane = i / (ow * oh);
    const int64_t yi = yo - top, xi = xo - left;
    out[i] = (yi >= 0 && yi < height && xi >= 0 && xi < width) ? in[(plane * height + yi) * width + xi] : T(0);
  }
}

// col[(c * kh + ki) * kw + kj][yo * Wo + xo] = in[c][yo * stride - pad_top + ki][xo * stride - pad_left + kj]
template <class T>
__global__ void im2col_kernel(const T* in, T* col, int64_t n, int64_t height, int64_t width, int kh, int kw,
                              int stride, int pad_top, int pad_left, int64_t oh, int64_t ow) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = i % (oh * ow);
    const int64_t row = i / (oh * ow);
    const int kj = int(row % kw), ki = int((row / kw) % kh);
    const int64_t c = row / (int64_t(kw) * kh);
    const int64_t yi = (p / ow) * stride - pad_top + ki, xi = (p % ow) * stride - pad_left + kj;
    col[i] = (yi >= 0 && yi < height && xi >= 0 && xi < width) ? in[(c * height + yi) * width + xi] : T(0);
  }
}

__global__ void embedding_kernel(const void* table, DType tt, const int64_t* ids, void* out, DType ot, int64_t n,
                                 int64_t dim) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store_f32(out, ot, i, load_f32(table, tt, ids[i / dim] * dim + i % dim));
}

template <class F>
void by_element_size(size_t element_size, const char* op, F&& f) {
  switch (element_size) {
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    case 8: f(uint64_t{}); break;
    default: throw Error(ErrorCode::Unsupported, std::string(op) + ": element size " + std::to_string(element_size));
  }
}

}  // namespace

void launch_upsample_nearest2x(const void* x, void* out, size_t es, int64_t planes, int64_t height, int64_t width,
                               cudaStream_t stream) {
  const int64_t n = planes * height * width * 4;
  if (n == 0) return;
  by_element_size(es, "upsample_nearest2x", [&](auto tag) {
    using T = decltype(tag);
    upsample_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(static_cast<const T*>(x),
                                                                          static_cast<T*>(out), n, height, width);
  });
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_upsample_nearest2x_cl(const void* x, void* out, size_t es, int64_t batch, int64_t height, int64_t width,
                                  int64_t channels, cudaStream_t stream) {
  const int64_t n = batch * height * width * 4 * channels;
  if (n == 0) return;
  if ((channels * int64_t(es)) % 16 == 0 && aligned16(x) && aligned16(out)) {
    const int64_t vectors_per_pixel = channels * int64_t(es) / 16, vectors = n * int64_t(es) / 16;
    launch_dependent(upsample_cl_vec_kernel, blocks_for(vectors, kThreads), kThreads, 0, stream,
                     static_cast<const uint4*>(x), static_cast<uint4*>(out), vectors, height, width,
                     vectors_per_pixel);
    return;
  }
  by_element_size(es, "upsample_nearest2x", [&](auto tag) {
    using T = decltype(tag);
    upsample_cl_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(static_cast<const T*>(x),
                                                                             static_cast<T*>(out), n, height, width,
                                                                             channels);
  });
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_interleave_phases(const void* y, void* out, size_t es, bool channels_last, int64_t batch, int64_t channels,
                              int64_t y_h, int64_t y_w, int64_t out_h, int64_t out_w, cudaStream_t stream) {
  const int64_t n = batch * channels * out_h * out_w;
  if (n == 0) return;
  if (channels_last && (channels * int64_t(es)) % 16 == 0 && aligned16(y) && aligned16(out)) {
    const int64_t units = channels * int64_t(es) / 16, vectors = n * int64_t(es) / 16;
    if (vectors < (int64_t(1) << 31))
      launch_dependent(interleave_phases_cl_vec_kernel, blocks_for(vectors, kThreads), kThreads, 0, stream,
                       static_cast<const uint4*>(y), static_cast<uint4*>(out), uint32_t(vectors), uint32_t(y_h),
                       uint32_t(y_w), FastDivider(uint32_t(units)), FastDivider(uint32_t(out_w)),
                       FastDivider(uint32_t(out_h)));
    else
      launch_dependent(interleave_phases_cl_kernel<uint4>, blocks_for(vectors, kThreads), kThreads, 0, stream,
                       static_cast<const uint4*>(y), static_cast<uint4*>(out), vectors, y_h, y_w, out_h, out_w,
                       units);
    return;
  }
  by_element_size(es, "interleave_phases", [&](auto tag) {
    using T = decltype(tag);
    if (channels_last)
      launch_dependent(interleave_phases_cl_kernel<T>, blocks_for(n, kThreads), kThreads, 0, stream,
                       static_cast<const T*>(y), static_cast<T*>(out), n, y_h, y_w, out_h, out_w, channels);
    else
      interleave_phases_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
          static_cast<const T*>(y), static_cast<T*>(out), n, channels, y_h, y_w, out_h, out_w);
  });
  SDPP_CUDA_CHECK_LAUNCH();
}

bool launch_concat_rows(const void* const* sources, const size_t* row_bytes, int count, void* out, int64_t rows,
                        cudaStream_t stream) {
  if (count < 1 || count > kMaxConcatSources || !aligned16(out) || rows <= 0) return false;
  ConcatRowSources s{};
  s.count = count;
  int64_t out_vectors = 0;
  for (int k = 0; k < count; ++k) {
    if (row_bytes[k] % 16 != 0 || row_bytes[k] == 0 || !aligned16(sources[k])) return false;
    s.data[k] = sources[k];
    s.vectors[k] = uint32_t(row_bytes[k] / 16);
    out_vectors += int64_t(s.vectors[k]);
  }
  const int64_t total = rows * out_vectors;
  if (total >= (int64_t(1) << 31)) return false;
  const unsigned blocks = unsigned((total + kThreads * kConcatPerThread - 1) / (kThreads * kConcatPerThread));
  launch_dependent(concat_rows_kernel, blocks, kThreads, 0, stream, s, static_cast<uint4*>(out), uint32_t(total),
                   FastDivider(uint32_t(out_vectors)));
  return true;
}

void launch_transpose(const void* in, void* out, size_t es, int64_t batch, int64_t rows, int64_t cols,
                      cudaStream_t stream) {
  if (batch * rows * cols == 0) return;
  if (batch > 65535 || (cols + 31) / 32 > 0x7fffffffLL)
    throw Error(ErrorCode::Unsupported, "transpose: batch " + std::to_string(batch) + " over 65535");
  const int64_t gy = (rows + 31) / 32;
  const dim3 grid(unsigned((cols + 31) / 32), unsigned(gy > 65535 ? 65535 : gy), unsigned(batch));
  by_element_size(es, "transpose", [&](auto tag) {
    using T = decltype(tag);
    transpose_kernel<T><<<grid, dim3(32, 8), 0, stream>>>(static_cast<const T*>(in), static_cast<T*>(out), rows, cols);
  });
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_pad2d(const void* in, void* out, size_t es, int64_t planes, int64_t height, int64_t width, int top,
                  int left, int64_t oh, int64_t ow, cudaStream_t stream) {
  const int64_t n = planes * oh * ow;
  if (n == 0) return;
  by_element_size(es, "pad2d", [&](auto tag) {
    using T = decltype(tag);
    pad2d_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(static_cast<const T*>(in), static_cast<T*>(out),
                                                                        n, height, width, top, left, oh, ow);
  });
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_im2col(const void* in, void* col, size_t es, int64_t channels, int64_t height, int64_t width, int kh,
                   int kw, int stride, int pad_top, int pad_left, int64_t oh, int64_t ow, cudaStream_t stream) {
  const int64_t n = channels * kh * kw * oh * ow;
  if (n == 0) return;
  by_element_size(es, "im2col", [&](auto tag) {
    using T = decltype(tag);
    im2col_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
        static_cast<const T*>(in), static_cast<T*>(col), n, height, width, kh, kw, stride, pad_top, pad_left, oh, ow);
  });
  SDPP_CUDA_CHECK_LAUNCH();
}

void launch_im2col_nhwc(const void* x, void* col, size_t es, int64_t batch, int64_t height, int64_t width,
                        int64_t channels, int kh, int kw, int stride, int pad_h, int pad_w, int64_t out_h,
                        int64_t out_w, cudaStream_t stream) {
  const int64_t vectors_per_pixel = channels * int64_t(es) / 16;
  const int64_t total = batch * out_h * out_w * kh * kw * vectors_per_pixel;
  if (total == 0) return;
  auto launch = [&](auto index, auto divider) {
    using Index = decltype(index);
    using Divider = decltype(divider);
    launch_dependent(im2col_nhwc_kernel<Index, Divider>, blocks_for(total, kThreads), kThreads, 0, stream,
                     static_cast<const uint4*>(x), static_cast<uint4*>(col), Index(total), Index(height),
                     Index(width), Divider(Index(vectors_per_pixel)), Divider(Index(kh * kw)), kw, stride, pad_h,
                     pad_w, Divider(Index(out_h)), Divider(Index(out_w)));
  };
  if (total < (int64_t(1) << 31))
    launch(uint32_t{}, FastDivider{});
  else
    launch(int64_t{}, PlainDivider64{});
}

void launch_embedding(const void* table, DType tt, const int64_t* ids, void* out, DType ot, int64_t count,
                      int64_t dim, cudaStream_t stream) {
  const int64_t n = count * dim;
  if (n == 0) return;
  embedding_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(table, tt, ids, out, ot, n, dim);
  SDPP_CUDA_CHECK_LAUNCH();
}

}  // namespace sdpp::cuda
