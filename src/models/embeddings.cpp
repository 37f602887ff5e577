#include "models/embeddings.h"

#include <cmath>

#include "core/error.h"

namespace sdpp::nn {

std::vector<float> timestep_embedding(std::span<const float> timesteps, int64_t dim, bool flip_sin_to_cos,
                                      float downscale_freq_shift, float scale, float max_period) {
  if (dim <= 0) throw Error(ErrorCode::InvalidArgument, "timestep_embedding: dim must be > 0, got " + std::to_string(dim));
  const int64_t half = dim / 2;
  // torch evaluates `-math.log(max_period) * arange(half, f32)` and the division by the python float
  // (half - shift) in f32 with f32-rounded scalars; exp/sin/cos are computed in double and rounded once, i.e.
  // correctly rounded, which is what torch's vectorised f32 kernels return in all but rare last-ulp cases.
  const float neg_log_period = float(-std::log(double(max_period)));
  const float denominator = float(double(half) - double(downscale_freq_shift));
  std::vector<float> freqs(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = float(i) * neg_log_period / denominator;
    freqs[size_t(i)] = float(std::exp(double(exponent)));
  }
  std::vector<float> out(timesteps.size() * size_t(dim), 0.0f);
  const int64_t sin_at = flip_sin_to_cos ? half : 0, cos_at = flip_sin_to_cos ? 0 : half;
  for (size_t n = 0; n < timesteps.size(); ++n) {
    float* row = out.data() + n * size_t(dim);
    for (int64_t i = 0; i < half; ++i) {
      float arg = timesteps[n] * freqs[size_t(i)];
      if (scale != 1.0f) arg = scale * arg;
      row[sin_at + i] = float(std::sin(double(arg)));
      row[cos_at + i] = float(std::cos(double(arg)));
    }
  }
  return out;
}

Tensor Timesteps::operator()(std::span<const float> timesteps, Device device, DType dtype) const {
  const std::vector<float> emb = timestep_embedding(timesteps, num_channels, flip_sin_to_cos, downscale_freq_shift);
  return Tensor::from_floats(emb, {int64_t(timesteps.size()), num_channels}).to(device).to(dtype);
}

TimestepEmbedding::TimestepEmbedding(const WeightLoader& w, int64_t in_channels, int64_t time_embed_dim,
                                     int64_t cond_proj_dim)
    : linear_1(w.sub("linear_1"), in_channels, time_embed_dim),
      linear_2(w.sub("linear_2"), time_embed_dim, time_embed_dim) {
  if (cond_proj_dim > 0) cond_proj = Linear(w.sub("cond_proj"), cond_proj_dim, in_channels, false);
}

Tensor TimestepEmbedding::operator()(const Tensor& sample, const Tensor& condition, const Tensor* residual) const {
  Tensor x = sample;
  if (condition.defined()) {
    if (!cond_proj.weight.defined())
      throw Error(ErrorCode::InvalidArgument, "TimestepEmbedding: a condition was given but the model has no cond_proj");
    ops::LinearOptions add_sample;
    add_sample.residual = &sample;
    x = cond_proj(condition, add_sample);  // sample + cond_proj(condition)
  }
  ops::LinearOptions silu;
  silu.activation = ops::Activation::SiLU;
  ops::LinearOptions add_residual;
  add_residual.residual = residual;
  return linear_2(linear_1(x, silu), add_residual);
}

}  // namespace sdpp::nn
