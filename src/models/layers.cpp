#include "models/layers.h"

namespace sdpp::nn {

Linear::Linear(const WeightLoader& w, int64_t in, int64_t out, bool with_bias)
    : weight(w.get("weight", {out, in})), bias(with_bias ? w.get("bias", {out}) : Tensor()) {}

Conv2d::Conv2d(const WeightLoader& w, int64_t in, int64_t out, int kernel, int stride_, int padding_, bool with_bias)
    : weight(ops::prepare_conv_weight(w.get("weight", {out, in, kernel, kernel}))),
      bias(with_bias ? w.get("bias", {out}) : Tensor()),
      stride(stride_),
      padding(padding_ < 0 ? kernel / 2 : padding_) {}

GroupNorm::GroupNorm(const WeightLoader& w, int groups_, int64_t channels, float eps_)
    : weight(w.get("weight", {channels})), bias(w.get("bias", {channels})), groups(groups_), eps(eps_) {}

LayerNorm::LayerNorm(const WeightLoader& w, int64_t channels, float eps_)
    : weight(w.get("weight", {channels})), bias(w.get("bias", {channels})), eps(eps_) {}

}  // namespace sdpp::nn
