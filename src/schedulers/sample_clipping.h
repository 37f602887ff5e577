// Keeping a predicted x0 in range: clip_sample (clamp to +-clip_sample_range) and dynamic thresholding
// (Imagen, Saharia et al. 2022: per sample, clamp to the `dynamic_thresholding_ratio` quantile of |x0|, at least 1
// and at most sample_max_value, then divide by it).
#pragma once
#include "core/tensor.h"
#include "schedulers/scheduler_config.h"

namespace sdpp::schedulers {

// Which of the two a diffusers class offers (DDIM/DDPM/LCM both, Heun clip only, DPM/UniPC thresholding only).
struct X0Clipping {
  bool clip_sample = false;
  bool thresholding = false;
};

// Whether the class's step applies either under `config`.
bool clips_x0(const SchedulerConfig& config, X0Clipping offered);
// Thresholding when offered and configured, else clip_sample when offered and configured, else x0 unchanged.
Tensor clip_x0(const SchedulerConfig& config, X0Clipping offered, const Tensor& x0);

}  // namespace sdpp::schedulers
