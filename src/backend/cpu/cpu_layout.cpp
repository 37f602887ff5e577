// Data movement: upsampling, concat/slice along any dim, image <-> token transposes, row lookups.
#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/shape_rules.h"
#include "core/parallel.h"

namespace sdpp::cpu {
namespace {

using shape_rules::span_numel;

// [rows, cols] -> [cols, rows] for each of `batch` matrices. Each 16x16 tile goes through a local buffer so
// both the reads and the writes touch whole 64-byte lines once; a direct strided loop thrashes the cache when
// one dimension is a power of two (H*W = 4096), since its lines all map to the same cache sets.
void transpose_batched(const float* src, float* dst, int64_t batch, int64_t rows, int64_t cols) {
  constexpr int64_t T = 16;
  const int64_t row_tiles = (rows + T - 1) / T;
  parallel_for(batch * row_tiles, 1, [&](int64_t t0, int64_t t1) {
    float tile[T][T];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / row_tiles, r0 = (t % row_tiles) * T, rn = std::min(T, rows - r0);
      const float* s = src + b * rows * cols;
      float* d = dst + b * rows * cols;
      for (int64_t c0 = 0; c0 < cols; c0 += T) {
        const int64_t cn = std::min(T, cols - c0);
        for (int64_t r = 0; r < rn; ++r)
          for (int64_t c = 0; c < cn; ++c) tile[c][r] = s[(r0 + r) * cols + c0 + c];
        for (int64_t c = 0; c < cn; ++c)
          for (int64_t r = 0; r < rn; ++r) d[(c0 + c) * rows + r0 + r] = tile[c][r];
      }
    }
  });
}

}  // namespace

Tensor upsample_nearest2x(const Tensor& x) {
  const float* xp = in_f32(x, "upsample_nearest2x", "input");
  if (x.ndim() != 4) shape_error("upsample_nearest2x: expected [N, C, H, W], got " + shape_str(x.shape()));
  const int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor out = new_f32({x.dim(0), x.dim(1), 2 * H, 2 * W});
  float* op = out.f32();
  parallel_for(NC * H, std::max<int64_t>(1, 1024 / std::max<int64_t>(W, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = (plane, input row)
      const float* s = xp + r * W;
      float* d = op + r * 4 * W;  // output rows 2y and 2y+1 of the same plane
      for (int64_t ix = 0; ix < W; ++ix) d[2 * ix] = d[2 * ix + 1] = s[ix];
      std::memcpy(d + 2 * W, d, size_t(2 * W) * sizeof(float));
    }
  });
  return out;
}

Tensor interleave_phases(const Tensor& y, int64_t out_h, int64_t out_w) {
  const float* yp = in_f32(y, "interleave_phases", "input");
  const Shape shape = shape_rules::interleave_phases_shape(y.shape(), out_h, out_w);
  const int64_t C = shape[1], YH = y.dim(2), YW = y.dim(3);
  Tensor out = new_f32(shape);
  float* op = out.f32();
  parallel_for(shape[0] * C * out_h, std::max<int64_t>(1, 1024 / out_w), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = (n, c, output row)
      const int64_t oy = r % out_h, c = (r / out_h) % C, n = r / (out_h * C);
      const int64_t a = oy % 2, row = oy / 2 + a;
      float* d = op + r * out_w;
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const int64_t b = ox % 2, phase = 2 * a + b;
        d[ox] = yp[((n * 4 * C + phase * C + c) * YH + row) * YW + ox / 2 + b];
      }
    }
  });
  return out;
}

Tensor concat(std::span<const Tensor> xs, int dim) {
  int d = 0;
  const Shape out_shape = shape_rules::concat_shape(xs, dim, &d);
  for (const Tensor& x : xs) in_f32(x, "concat", "input");
  const Shape& first = xs[0].shape();
  const int nd = int(first.size());
  const int64_t outer = span_numel(first, 0, d), inner = span_numel(first, d + 1, nd);
  const int64_t out_row = out_shape[size_t(d)] * inner;
  Tensor out = new_f32(out_shape);
  float* op = out.f32();
  parallel_for(outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(out_row, 1)), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      float* dst = op + o * out_row;
      for (const Tensor& x : xs) {
        const int64_t row = x.shape()[size_t(d)] * inner;
        std::memcpy(dst, x.data<float>() + o * row, size_t(row) * sizeof(float));
        dst += row;
      }
    }
  });
  return out;
}

Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) {
  const float* xp = in_f32(x, "slice", "input");
  const int nd = x.ndim();
  int d = 0;
  const Shape out_shape = shape_rules::slice_shape(x.shape(), dim, start, end, &d);
  const int64_t size = x.shape()[size_t(d)];
  const int64_t outer = span_numel(x.shape(), 0, d), inner = span_numel(x.shape(), d + 1, nd);
  const int64_t in_row = size * inner, out_row = (end - start) * inner;
  Tensor out = new_f32(out_shape);
  float* op = out.f32();
  parallel_for(outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(out_row, 1)), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      std::memcpy(op + o * out_row, xp + o * in_row + start * inner, size_t(out_row) * sizeof(float));
  });
  return out;
}

Tensor to_tokens(const Tensor& x) {
  const float* xp = in_f32(x, "to_tokens", "input");
  if (x.ndim() != 4) shape_error("to_tokens: expected [N, C, H, W], got " + shape_str(x.shape()));
  const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  Tensor out = new_f32({N, HW, C});
  transpose_batched(xp, out.f32(), N, C, HW);  // [N, C, HW] -> [N, HW, C]
  return out;
}

Tensor from_tokens(const Tensor& x, int64_t height, int64_t width) {
  const float* xp = in_f32(x, "from_tokens", "input");
  if (x.ndim() != 3 || height < 0 || width < 0 || x.dim(1) != height * width)
    shape_error("from_tokens: " + shape_str(x.shape()) + " is not [N, " + std::to_string(height) + "*" +
                std::to_string(width) + ", C]");
  const int64_t N = x.dim(0), HW = x.dim(1), C = x.dim(2);
  Tensor out = new_f32({N, C, height, width});
  transpose_batched(xp, out.f32(), N, HW, C);  // [N, HW, C] -> [N, C, HW]
  return out;
}

Tensor embedding(const Tensor& table, const Tensor& ids) {
  const float* tp = in_f32(table, "embedding", "table");
  if (table.ndim() != 2) shape_error("embedding: table must be [V, D], got " + shape_str(table.shape()));
  if (ids.dtype() != DType::I64 || !ids.device().is_cpu())
    throw Error(ErrorCode::Unsupported, std::string("embedding: ids must be i64 on the cpu, got ") + dtype_name(ids.dtype()) +
                                            " on " + ids.device().str());
  const int64_t V = table.dim(0), D = table.dim(1), n = ids.numel();
  const int64_t* idp = ids.i64();
  for (int64_t i = 0; i < n; ++i) {
    if (idp[i] < 0 || idp[i] >= V)
      throw Error(ErrorCode::InvalidArgument, "embedding: id " + std::to_string(idp[i]) + " outside vocabulary of " + std::to_string(V));
  }
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  Tensor out = new_f32(out_shape);
  float* op = out.f32();
  for (int64_t i = 0; i < n; ++i) std::memcpy(op + i * D, tp + idp[i] * D, size_t(D) * sizeof(float));
  return out;
}

Tensor gather_rows(const Tensor& x, std::span<const int64_t> index) {
  const float* xp = in_f32(x, "gather_rows", "input");
  if (x.ndim() != 3 || int64_t(index.size()) != x.dim(0))
    shape_error("gather_rows: x " + shape_str(x.shape()) + " with " + std::to_string(index.size()) + " indices");
  const int64_t B = x.dim(0), L = x.dim(1), D = x.dim(2);
  Tensor out = new_f32({B, D});
  float* op = out.f32();
  for (int64_t b = 0; b < B; ++b) {
    if (index[size_t(b)] < 0 || index[size_t(b)] >= L)
      throw Error(ErrorCode::InvalidArgument, "gather_rows: index " + std::to_string(index[size_t(b)]) + " outside [0, " +
                                                  std::to_string(L) + ")");
    std::memcpy(op + b * D, xp + (b * L + index[size_t(b)]) * D, size_t(D) * sizeof(float));
  }
  return out;
}

}  // namespace sdpp::cpu
