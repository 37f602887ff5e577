#include "backend/shape_rules.h"

#include <string>

#include "core/error.h"

namespace sdpp::shape_rules {

int normalize_dim(int dim, int ndim, const char* op, const Shape& shape) {
  const int d = dim < 0 ? dim + ndim : dim;
  if (d < 0 || d >= ndim)
    throw Error(ErrorCode::ShapeMismatch,
                std::string(op) + ": dim " + std::to_string(dim) + " out of range for " + shape_str(shape));
  return d;
}

int64_t span_numel(const Shape& shape, int from, int to) {
  int64_t n = 1;
  for (int i = from; i < to; ++i) n *= shape[size_t(i)];
  return n;
}

Shape concat_shape(std::span<const Tensor> xs, int dim, int* axis) {
  if (xs.empty()) throw Error(ErrorCode::Internal, "concat: no inputs");
  const Shape& first = xs[0].shape();
  const int nd = int(first.size());
  const int d = normalize_dim(dim, nd, "concat", first);
  Shape out = first;
  out[size_t(d)] = 0;
  for (const Tensor& x : xs) {
    bool ok = x.ndim() == nd;
    for (int i = 0; ok && i < nd; ++i) ok = i == d || x.shape()[size_t(i)] == first[size_t(i)];
    if (!ok)
      throw Error(ErrorCode::ShapeMismatch, "concat: " + shape_str(x.shape()) + " vs " + shape_str(first) +
                                                " along dim " + std::to_string(dim));
    out[size_t(d)] += x.shape()[size_t(d)];
  }
  *axis = d;
  return out;
}

Shape slice_shape(const Shape& shape, int dim, int64_t start, int64_t end, int* axis) {
  const int d = normalize_dim(dim, int(shape.size()), "slice", shape);
  if (start < 0 || end < start || end > shape[size_t(d)])
    throw Error(ErrorCode::ShapeMismatch, "slice: [" + std::to_string(start) + ", " + std::to_string(end) +
                                              ") of dim " + std::to_string(dim) + " in " + shape_str(shape));
  Shape out = shape;
  out[size_t(d)] = end - start;
  *axis = d;
  return out;
}

Shape interleave_phases_shape(const Shape& y, int64_t out_h, int64_t out_w) {
  const bool rank_ok = y.size() == 4 && y[1] % 4 == 0 && y[2] >= 2 && y[3] >= 2;
  const int64_t h = rank_ok ? y[2] - 1 : 0, w = rank_ok ? y[3] - 1 : 0;
  if (!rank_ok || out_h < 2 * h - 1 || out_h > 2 * h || out_w < 2 * w - 1 || out_w > 2 * w)
    throw Error(ErrorCode::ShapeMismatch, "interleave_phases: expected [N, 4C, H+1, W+1] and an output of 2H-1 or 2H "
                                          "rows, 2W-1 or 2W columns; got " + shape_str(y) + " to " +
                                              std::to_string(out_h) + "x" + std::to_string(out_w));
  return {y[0], y[1] / 4, out_h, out_w};
}

}  // namespace sdpp::shape_rules
