// Shared base of the k-diffusion style schedulers (Euler, Euler ancestral, Heun, LMS, KDPM2, KDPM2 ancestral):
// latents are x = x0 + sigma * eps, the model sees x / sqrt(sigma^2 + 1), and the schedule is a list of sigmas
// interpolated from the training sigmas at the spaced timesteps (optionally re-spaced on the Karras ramp).
#pragma once
#include <vector>

#include "schedulers/noise_schedule.h"
#include "schedulers/scheduler.h"

namespace sdpp::schedulers {

class SigmaScheduler : public Scheduler {
 public:
  double init_noise_sigma() const override;

 protected:
  SigmaScheduler(const SchedulerConfig& config, ZeroSnr zero_snr);

  // How a class turns the interpolated sigmas into a Karras / exponential ramp.
  struct RampOptions {
    bool offered = true;           // the class has use_karras_sigmas / use_exponential_sigmas at all
    bool config_bounds = false;    // Euler reads sigma_min / sigma_max from the config
    bool round_timesteps = false;  // KDPM2 rounds the ramp's timesteps
  };
  struct Schedule {
    std::vector<double> timesteps;  // one per step, float32
    std::vector<double> sigmas;     // one per step, double (the caller appends the final sigma and casts)
  };
  // diffusers' common set_timesteps body: spaced float32 timesteps, np.interp'd sigmas, then the configured ramp.
  Schedule spaced_schedule(int steps, RampOptions ramp) const;

  // The sigma scale_model_input divides by at call `index` (two-stage samplers override).
  virtual double input_sigma(int index) const { return sigmas_[size_t(index)]; }
  Tensor scale_input(const Tensor& sample, int index) override;
  // original + noise * sigmas[index]
  Tensor add_noise_impl(const Tensor& original, const Tensor& noise, int index) const override;

  NoiseSchedule schedule_;
  std::vector<double> train_sigmas_;  // sigma of every training timestep, float32
  std::vector<double> log_sigmas_;    // their float32 logs
};

}  // namespace sdpp::schedulers
