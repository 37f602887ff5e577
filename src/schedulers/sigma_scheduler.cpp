#include "schedulers/sigma_scheduler.h"

#include <algorithm>
#include <cmath>

#include "backend/ops.h"
#include "schedulers/update.h"

namespace sdpp::schedulers {

SigmaScheduler::SigmaScheduler(const SchedulerConfig& config, ZeroSnr zero_snr)
    : Scheduler(config),
      schedule_(make_noise_schedule(config_, zero_snr)),
      train_sigmas_(sigmas_from_alphas_cumprod(schedule_.alphas_cumprod)),
      log_sigmas_(log_sigmas_f32(train_sigmas_)) {}

double SigmaScheduler::init_noise_sigma() const {
  const double max_sigma = sigmas_.empty() ? train_sigmas_.back() : *std::max_element(sigmas_.begin(), sigmas_.end());
  // "leading" schedules start below the largest training sigma; diffusers scales the noise up by sqrt(sigma^2 + 1).
  if (config_.timestep_spacing == TimestepSpacing::Leading) return f32(std::sqrt(f32(max_sigma * max_sigma + 1)));
  return max_sigma;
}

SigmaScheduler::Schedule SigmaScheduler::spaced_schedule(int steps, RampOptions ramp) const {
  Schedule s;
  s.timesteps = spaced_timesteps(config_.timestep_spacing, config_.num_train_timesteps, steps, config_.steps_offset);
  for (double& t : s.timesteps) t = f32(t);
  for (double t : s.timesteps) s.sigmas.push_back(np_interp_index(t, train_sigmas_));
  if (ramp.offered && (config_.use_karras_sigmas || config_.use_exponential_sigmas)) {
    const double lo = ramp.config_bounds && config_.sigma_min ? *config_.sigma_min : s.sigmas.back();
    const double hi = ramp.config_bounds && config_.sigma_max ? *config_.sigma_max : s.sigmas.front();
    s.sigmas = config_.use_karras_sigmas ? karras_sigmas(lo, hi, steps) : exponential_sigmas(lo, hi, steps);
    s.timesteps.clear();
    for (double sigma : s.sigmas) {
      const double t = sigma_to_t(sigma, log_sigmas_);
      s.timesteps.push_back(f32(ramp.round_timesteps && config_.use_karras_sigmas ? round_half_even(t) : t));
    }
  }
  return s;
}

Tensor SigmaScheduler::scale_input(const Tensor& sample, int index) {
  const double sigma = input_sigma(index);
  return ops::scale(sample, float(1.0 / std::sqrt(sigma * sigma + 1)));
}

Tensor SigmaScheduler::add_noise_impl(const Tensor& original, const Tensor& noise, int index) const {
  return Update().add(original, 1.0).add(noise, sigmas_[size_t(index)]).eval();
}

}  // namespace sdpp::schedulers
