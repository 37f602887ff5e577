// conv2d as GEMM: out[n] [O, Ho*Wo] = W [O, C*kh*kw] · cols [C*kh*kw, Ho*Wo]. A 1x1 stride-1 unpadded
// convolution needs no column matrix (the input already is [C, H*W]); otherwise im2col builds it for a band of
// output rows at a time. Large images: each thread takes whole bands (im2col + single-threaded GEMM). Small images
// (too few bands to share): one band at a time with the column build and the GEMM each split over the threads.
// Either way the column memory is bounded.
// A band is at least kMinBandPixels output pixels: every GEMM call packs the whole weight [O, C*kh*kw] for the BLAS
// kernel, up to 59 MB for SD's 1280-channel 3x3 convolutions, so a band must be wide enough to amortise that. (Bands
// sized for the column buffer to stay in a core's L2 were 32-128 pixels at the UNet's levels; packing the weight
// then took a fifth of the SD 1.5 UNet's time: docs/PERFORMANCE.md, twenty-sixth session.)
#include <algorithm>
#include <cstring>
#include <memory>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace sdpp::cpu {
namespace {

constexpr int64_t kMaxColumnBytes = int64_t(256) << 20;        // shared column buffer cap
constexpr int64_t kMaxThreadColumnBytes = int64_t(32) << 20;   // per-thread band cap
constexpr int64_t kMinBandPixels = 1024;  // the SD 1.5 UNet on 2 cores: 512 as fast, 2048 and 4096 slower

struct ConvGeometry {
  int64_t C, H, W, kh, kw, stride, pad_top, pad_left, Ho, Wo;
};

// cols [C*kh*kw, rows*Wo] for output rows [oy0, oy0+rows): row (c, ky, kx), column (oy, ox) holds
// x[c, oy*stride - pad_top + ky, ox*stride - pad_left + kx], or 0 outside the image.
void im2col(const float* x, const ConvGeometry& g, int64_t oy0, int64_t rows, float* cols) {
  const int64_t P = rows * g.Wo;
  parallel_for(g.C * g.kh * g.kw, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / (g.kh * g.kw), ky = (r / g.kw) % g.kh, kx = r % g.kw;
      const float* plane = x + c * g.H * g.W;
      float* dst = cols + r * P;
      // ix = ox * stride - shift lies inside the row for ox in [lo, hi): only the edges are padding, so the inside
      // is copied without a test per value (one memcpy at stride 1).
      const int64_t shift = g.pad_left - kx;
      const int64_t lo = std::min(g.Wo, shift > 0 ? (shift + g.stride - 1) / g.stride : int64_t(0));
      const int64_t hi = std::max(lo, g.W - 1 + shift >= 0 ? std::min(g.Wo, (g.W - 1 + shift) / g.stride + 1) : 0);
      for (int64_t oy = oy0; oy < oy0 + rows; ++oy) {
        const int64_t iy = oy * g.stride - g.pad_top + ky;
        float* d = dst + (oy - oy0) * g.Wo;
        if (iy < 0 || iy >= g.H) {
          std::fill(d, d + g.Wo, 0.0f);
          continue;
        }
        const float* src = plane + iy * g.W;
        std::fill(d, d + lo, 0.0f);
        if (g.stride == 1) {
          std::memcpy(d + lo, src + (lo - shift), size_t(hi - lo) * sizeof(float));
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox] = src[ox * g.stride - shift];
        }
        std::fill(d + hi, d + g.Wo, 0.0f);
      }
    }
  });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::Conv2dOptions& o) {
  const float* xp = in_f32(x, "conv2d", "input");
  const float* wp = in_f32(weight, "conv2d", "weight");
  if (x.ndim() != 4 || weight.ndim() != 4 || x.dim(1) != weight.dim(1))
    shape_error("conv2d: input " + shape_str(x.shape()) + " vs weight " + shape_str(weight.shape()));
  if (o.stride < 1 || o.pad_top < 0 || o.pad_left < 0 || o.pad_bottom < 0 || o.pad_right < 0)
    throw Error(ErrorCode::InvalidArgument, "conv2d: stride " + std::to_string(o.stride) + " and paddings must be positive");
  ConvGeometry g{x.dim(1), x.dim(2), x.dim(3), weight.dim(2), weight.dim(3), o.stride, o.pad_top, o.pad_left, 0, 0};
  const int64_t N = x.dim(0), O = weight.dim(0);
  const int64_t padded_h = g.H + o.pad_top + o.pad_bottom, padded_w = g.W + o.pad_left + o.pad_right;
  if (g.kh < 1 || g.kw < 1 || padded_h < g.kh || padded_w < g.kw)
    shape_error("conv2d: kernel " + shape_str(weight.shape()) + " larger than padded input " + shape_str(x.shape()));
  g.Ho = (padded_h - g.kh) / g.stride + 1;
  g.Wo = (padded_w - g.kw) / g.stride + 1;
  const Shape out_shape{N, O, g.Ho, g.Wo};
  const float* bp = optional_vector(bias, O, "conv2d", "bias");
  const float* rp = optional_residual(o.residual, out_shape, "conv2d");
  Tensor out = new_f32(out_shape);
  float* op = out.f32();

  const int64_t CK = g.C * g.kh * g.kw, HWo = g.Ho * g.Wo;
  const bool direct = g.kh == 1 && g.kw == 1 && g.stride == 1 && g.Ho == g.H && g.Wo == g.W;
  const int64_t column_row_bytes = CK * g.Wo * int64_t(sizeof(float));  // one output row's columns
  const int64_t thread_band = std::clamp<int64_t>(
      std::min((kMinBandPixels + g.Wo - 1) / g.Wo, kMaxThreadColumnBytes / std::max<int64_t>(1, column_row_bytes)), 1,
      g.Ho);
  const int64_t thread_bands = (g.Ho + thread_band - 1) / thread_band;
  if (direct) {
    for (int64_t n = 0; n < N; ++n)
      sgemm_parallel(false, false, O, HWo, g.C, 1.0f, wp, g.C, xp + n * g.C * g.H * g.W, HWo, 0.0f, op + n * O * HWo, HWo);
  } else if (N * thread_bands >= 2 * int64_t(num_threads())) {
    parallel_for(N * thread_bands, 1, [&](int64_t t0, int64_t t1) {
      const auto cols = std::make_unique_for_overwrite<float[]>(size_t(CK * thread_band * g.Wo));
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / thread_bands, oy0 = (t % thread_bands) * thread_band;
        const int64_t rows = std::min(thread_band, g.Ho - oy0);
        im2col(xp + n * g.C * g.H * g.W, g, oy0, rows, cols.get());
        // The band's columns of out[n], written in place (ldc = Ho*Wo).
        sgemm(false, false, O, rows * g.Wo, CK, 1.0f, wp, CK, cols.get(), rows * g.Wo, 0.0f,
              op + n * O * HWo + oy0 * g.Wo, HWo);
      }
    });
  } else {
    const int64_t band = std::clamp<int64_t>(kMaxColumnBytes / std::max<int64_t>(1, column_row_bytes), 1, g.Ho);
    const auto cols = std::make_unique_for_overwrite<float[]>(size_t(CK * band * g.Wo));  // im2col writes it all
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t oy0 = 0; oy0 < g.Ho; oy0 += band) {
        const int64_t rows = std::min(band, g.Ho - oy0);
        im2col(xp + n * g.C * g.H * g.W, g, oy0, rows, cols.get());
        sgemm_parallel(false, false, O, rows * g.Wo, CK, 1.0f, wp, CK, cols.get(), rows * g.Wo, 0.0f,
                       op + n * O * HWo + oy0 * g.Wo, HWo);
      }
    }
  }
  if (bp || rp) {
    parallel_for(N * O, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        float* d = op + t * HWo;
        const float b = bp ? bp[t % O] : 0.0f;
        for (int64_t i = 0; i < HWo; ++i) d[i] += b;
        if (rp) {
          const float* r = rp + t * HWo;
          for (int64_t i = 0; i < HWo; ++i) d[i] += r[i];
        }
      }
    });
  }
  return out;
}

}  // namespace sdpp::cpu
