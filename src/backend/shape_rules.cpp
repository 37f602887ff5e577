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

}  // namespace sdpp::shape_rules
