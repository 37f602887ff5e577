// Shape rules of the layout ops, shared by every backend so that all of them accept and reject the same inputs with
// the same messages (Error(ShapeMismatch)). Backends keep only what is theirs: dtype/device checks and the copy.
#pragma once
#include <cstdint>
#include <span>

#include "core/tensor.h"

namespace sdpp::shape_rules {

// `dim` (negative counts from the end) as an index into a rank-`ndim` shape.
int normalize_dim(int dim, int ndim, const char* op, const Shape& shape);
// Product of shape[from..to).
int64_t span_numel(const Shape& shape, int from, int to);
// concat: one rank, equal sizes except along `dim`. Returns the output shape; *axis is `dim` normalised.
Shape concat_shape(std::span<const Tensor> xs, int dim, int* axis);
// slice: [start, end) within dimension `dim` of `shape`. Returns the output shape; *axis is `dim` normalised.
Shape slice_shape(const Shape& shape, int dim, int64_t start, int64_t end, int* axis);
// interleave_phases: y [N, 4C, H+1, W+1] (H, W >= 1) and an output of 2H-1 or 2H rows, 2W-1 or 2W columns. Returns
// [N, C, out_h, out_w].
Shape interleave_phases_shape(const Shape& y, int64_t out_h, int64_t out_w);

}  // namespace sdpp::shape_rules
