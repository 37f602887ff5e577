// The cpu kernels behind CpuBackend, one group per file (cpu_gemm, cpu_conv, cpu_norm, cpu_activation,
// cpu_attention, cpu_layout, cpu_elementwise). Inputs are validated here; ops.cpp checks only the basics.
#pragma once
#include <span>

#include "backend/ops.h"
#include "core/tensor.h"

namespace sdpp::cpu {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::LinearOptions& o);
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::Conv2dOptions& o);
Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, ops::Activation act);
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
Tensor activation(const Tensor& x, ops::Activation act);
Tensor geglu(const Tensor& x);
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& o);
Tensor upsample_nearest2x(const Tensor& x);
Tensor interleave_phases(const Tensor& y, int64_t out_h, int64_t out_w);
Tensor concat(std::span<const Tensor> xs, int dim);
Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end);
Tensor to_tokens(const Tensor& x);
Tensor from_tokens(const Tensor& x, int64_t height, int64_t width);
Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float factor, float offset);
Tensor clamp(const Tensor& x, float lo, float hi);
Tensor exp(const Tensor& x);
Tensor lincomb(std::span<const Tensor> xs, std::span<const double> coeffs);
Tensor embedding(const Tensor& table, const Tensor& ids);
Tensor gather_rows(const Tensor& x, std::span<const int64_t> index);

// Element type conversion between two cpu tensors of equal numel.
void convert(const Tensor& src, Tensor& dst);

}  // namespace sdpp::cpu
