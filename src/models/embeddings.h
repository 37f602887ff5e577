// diffusers timestep embeddings (embeddings.py): the weightless sinusoidal `Timesteps` projection, computed on the
// host exactly as torch computes it in f32, and the learned `TimestepEmbedding` MLP (linear_1 -> SiLU -> linear_2).
#pragma once
#include <span>
#include <vector>

#include "models/layers.h"

namespace sdpp::nn {

// diffusers `get_timestep_embedding` for timesteps [N] -> row-major [N, dim]:
//   exponent = -ln(max_period) * arange(half) / (half - downscale_freq_shift);  emb = t * exp(exponent)
//   out = cat(sin(emb), cos(emb)), flipped to cat(cos, sin) when flip_sin_to_cos; zero column appended for odd dim.
// Each step is rounded to f32 where torch rounds, so the result matches torch's to the last bit or one ulp.
std::vector<float> timestep_embedding(std::span<const float> timesteps, int64_t dim, bool flip_sin_to_cos,
                                      float downscale_freq_shift, float scale = 1.0f, float max_period = 10000.0f);

// diffusers `Timesteps` (time_proj / add_time_proj): no weights.
struct Timesteps {
  int64_t num_channels = 0;
  bool flip_sin_to_cos = true;
  float downscale_freq_shift = 0.0f;
  // timesteps [N] (host values) -> [N, num_channels] on `device` in `dtype`.
  Tensor operator()(std::span<const float> timesteps, Device device, DType dtype) const;
};

// diffusers `TimestepEmbedding` with act_fn "silu" and no post activation; `cond_proj` (LCM's guidance embedding,
// no bias) exists when cond_proj_dim > 0.
struct TimestepEmbedding {
  Linear linear_1, linear_2, cond_proj;
  TimestepEmbedding() = default;
  TimestepEmbedding(const WeightLoader& w, int64_t in_channels, int64_t time_embed_dim, int64_t cond_proj_dim = 0);
  // sample [N, in_channels]; condition [N, cond_proj_dim] or undefined -> [N, time_embed_dim]; `residual`
  // (optional, [N, time_embed_dim]) is added by linear_2.
  Tensor operator()(const Tensor& sample, const Tensor& condition = {}, const Tensor* residual = nullptr) const;
};

}  // namespace sdpp::nn
