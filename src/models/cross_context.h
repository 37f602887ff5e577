// What a UNet's cross-attention layers attend to: the encoder hidden states (the text tokens) and, optionally, the
// keys and values each layer projects from them, made once ahead of a denoising loop. The context does not change
// between steps, so projecting it again at every step (16 stacked to_k/to_v GEMMs in SD 1.x, 70 in SDXL) is wasted.
#pragma once
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sdpp::nn {

struct Attention;

// Per cross-attention layer, its stacked projection of one context: [B, Lk, 2 * heads * dim_head] (to_k, then to_v),
// listed in the order UNet2DConditionModel::project_context visits the layers.
class ProjectedContext {
 public:
  void add(const Attention* layer, Tensor kv) { entries_.emplace_back(layer, std::move(kv)); }
  // The layer's projection, or nullptr where it has none here.
  const Tensor* find(const Attention* layer) const {
    for (const auto& [owner, kv] : entries_)
      if (owner == layer) return &kv;
    return nullptr;
  }
  const std::vector<std::pair<const Attention*, Tensor>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<const Attention*, Tensor>> entries_;
};

struct CrossContext {
  CrossContext(Tensor hidden_states, const ProjectedContext* projected = nullptr)  // NOLINT: a context is its states
      : hidden_states(std::move(hidden_states)), projected(projected) {}
  Tensor hidden_states;                         // [B, Lk, cross_attention_dim]
  const ProjectedContext* projected = nullptr;  // layers it lacks project hidden_states themselves
};

}  // namespace sdpp::nn
