#include "schedulers/sample_clipping.h"

#include <algorithm>
#include <cmath>

#include "backend/ops.h"

namespace sdpp::schedulers {
namespace {

// torch.quantile(values, q) with linear interpolation (sorts `values`).
double quantile(std::vector<float>& values, double q) {
  std::sort(values.begin(), values.end());
  const double rank = q * double(values.size() - 1);
  const size_t below = size_t(std::floor(rank)), above = size_t(std::ceil(rank));
  const double w = rank - double(below), a = values[below], b = values[above];
  return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w);
}

// Per batch element: s = clamp(quantile(|x|), 1, max); x = clamp(x, -s, s) / s. The quantile needs a sort, which
// has no place in the op set; thresholding serves pixel-space models, so the host round trip is acceptable.
Tensor threshold(const SchedulerConfig& config, const Tensor& x0) {
  const int64_t batch = x0.dim(0), per_item = x0.numel() / batch;
  std::vector<float> host = x0.to_floats();
  for (int64_t b = 0; b < batch; ++b) {
    float* item = host.data() + b * per_item;
    std::vector<float> magnitudes(static_cast<size_t>(per_item));
    for (int64_t i = 0; i < per_item; ++i) magnitudes[size_t(i)] = std::fabs(item[i]);
    // torch.clamp(min=1, max=sample_max_value): the max wins when sample_max_value < 1.
    const double s = std::min(std::max(quantile(magnitudes, config.dynamic_thresholding_ratio), 1.0), config.sample_max_value);
    for (int64_t i = 0; i < per_item; ++i) item[i] = float(std::clamp(double(item[i]), -s, s) / s);
  }
  return Tensor::from_floats(host, x0.shape()).to(x0.device()).to(x0.dtype());
}

}  // namespace

bool clips_x0(const SchedulerConfig& config, X0Clipping offered) {
  return (offered.thresholding && config.thresholding) || (offered.clip_sample && config.clip_sample);
}

Tensor clip_x0(const SchedulerConfig& config, X0Clipping offered, const Tensor& x0) {
  if (offered.thresholding && config.thresholding) return threshold(config, x0);
  if (offered.clip_sample && config.clip_sample)
    return ops::clamp(x0, float(-config.clip_sample_range), float(config.clip_sample_range));
  return x0;
}

}  // namespace sdpp::schedulers
