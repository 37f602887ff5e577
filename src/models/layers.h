// torch.nn building blocks with diffusers/transformers key names (`weight`, `bias`), loaded through WeightLoader.
// Shapes are checked at load time, so a wrong checkpoint fails at load naming the key, never mid-forward.
#pragma once
#include <initializer_list>

#include "backend/ops.h"
#include "io/weight_loader.h"

namespace sdpp::nn {

struct LayerNorm;

struct Linear {
  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined
  Linear() = default;
  Linear(const WeightLoader& w, int64_t in, int64_t out, bool with_bias = true);
  // Layers over one input computed by one GEMM: weights (and biases, all or none) stacked along the output.
  static Linear stacked(std::initializer_list<Linear> parts);
  Tensor operator()(const Tensor& x, const ops::LinearOptions& options = {}) const {
    return ops::linear(x, weight, bias, options);
  }
  // The output and `norm` of it (ops::linear_layer_norm): a residual stream and the next sublayer's input.
  ops::LinearAndNorm then_norm(const Tensor& x, const ops::LinearOptions& options, const LayerNorm& norm) const;
};

struct Conv2d {
  Tensor weight;  // [out, in, k, k]
  Tensor bias;    // [out]
  int stride = 1;
  int padding = 0;
  Conv2d() = default;
  Conv2d(const WeightLoader& w, int64_t in, int64_t out, int kernel, int stride = 1, int padding = -1 /* k/2 */,
         bool with_bias = true);
  Tensor operator()(const Tensor& x, const Tensor* residual = nullptr) const {
    return ops::conv2d(x, weight, bias, {stride, padding, padding, padding, padding, residual});
  }
};

struct GroupNorm {
  Tensor weight, bias;  // [C]
  int groups = 32;
  float eps = 1e-5f;
  GroupNorm() = default;
  GroupNorm(const WeightLoader& w, int groups, int64_t channels, float eps);
  // add [N, C]: normalise x + add[:, :, None, None] (ops::group_norm)
  Tensor operator()(const Tensor& x, ops::Activation act = ops::Activation::None, const Tensor& add = {}) const {
    return ops::group_norm(x, groups, weight, bias, eps, act, add);
  }
};

struct LayerNorm {
  Tensor weight, bias;  // [C]
  float eps = 1e-5f;
  LayerNorm() = default;
  LayerNorm(const WeightLoader& w, int64_t channels, float eps);
  Tensor operator()(const Tensor& x) const { return ops::layer_norm(x, weight, bias, eps); }
};

}  // namespace sdpp::nn
