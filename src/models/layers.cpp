#include "models/layers.h"

#include <vector>

#include "core/error.h"

namespace sdpp::nn {

Linear::Linear(const WeightLoader& w, int64_t in, int64_t out, bool with_bias)
    : weight(w.get("weight", {out, in})), bias(with_bias ? w.get("bias", {out}) : Tensor()) {}

Linear Linear::stacked(std::initializer_list<Linear> parts) {
  std::vector<Tensor> weights, biases;
  for (const Linear& part : parts) {
    weights.push_back(part.weight);
    if (part.bias.defined()) biases.push_back(part.bias);
  }
  if (!biases.empty() && biases.size() != weights.size())
    throw Error(ErrorCode::Internal, "Linear::stacked: some parts have a bias and some do not");
  Linear out;
  out.weight = ops::concat(weights, 0);
  if (!biases.empty()) out.bias = ops::concat(biases, 0);
  return out;
}

Conv2d::Conv2d(const WeightLoader& w, int64_t in, int64_t out, int kernel, int stride_, int padding_, bool with_bias)
    : weight(ops::prepare_conv_weight(w.get("weight", {out, in, kernel, kernel}))),
      bias(with_bias ? w.get("bias", {out}) : Tensor()),
      stride(stride_),
      padding(padding_ < 0 ? kernel / 2 : padding_) {}

GroupNorm::GroupNorm(const WeightLoader& w, int groups_, int64_t channels, float eps_)
    : weight(w.get("weight", {channels})), bias(w.get("bias", {channels})), groups(groups_), eps(eps_) {}

ops::LinearAndNorm Linear::then_norm(const Tensor& x, const ops::LinearOptions& options, const LayerNorm& norm) const {
  return ops::linear_layer_norm(x, weight, bias, options, norm.weight, norm.bias, norm.eps);
}

LayerNorm::LayerNorm(const WeightLoader& w, int64_t channels, float eps_)
    : weight(w.get("weight", {channels})), bias(w.get("bias", {channels})), eps(eps_) {}

}  // namespace sdpp::nn
