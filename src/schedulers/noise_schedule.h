// The maths every scheduler shares: the training noise schedule (betas, alphas_cumprod), inference timestep
// spacing, and sigma-space helpers (np.interp, Karras ramp, sigma -> continuous timestep).
//
// diffusers keeps its tables (betas, alphas_cumprod, sigmas, float timesteps) as float32 tensors and rounds at
// each of its float32 operations. We compute in double but round those *tables* to float32 the same way (`f32`),
// so a sigma or a timestep handed to the model is the exact float diffusers hands it; the per-step coefficients
// computed from them stay in double.
#pragma once
#include <vector>

#include "schedulers/scheduler_config.h"

namespace sdpp::schedulers {

inline double f32(double x) { return double(float(x)); }

// numpy's round(): half to even.
double round_half_even(double x);

// How a class treats `rescale_betas_zero_snr`.
enum class ZeroSnr {
  Ignore,          // the class has no such option (PNDM, Heun, LMS, KDPM2)
  Rescale,         // rescale the betas (DDIM, DDPM, LCM)
  RescaleClamped,  // rescale, then alphas_cumprod[-1] = 2^-24 so sigma stays finite (Euler, DPM, UniPC)
};

struct NoiseSchedule {
  std::vector<double> betas;           // [num_train_timesteps], float32 values
  std::vector<double> alphas_cumprod;  // [num_train_timesteps], float32 values
};
NoiseSchedule make_noise_schedule(const SchedulerConfig& config, ZeroSnr zero_snr);

// sigma_t = sqrt((1 - alphas_cumprod) / alphas_cumprod), float32 per element as diffusers computes it.
std::vector<double> sigmas_from_alphas_cumprod(const std::vector<double>& alphas_cumprod);
// log of float32 sigmas, as np.log on a float32 array.
std::vector<double> log_sigmas_f32(const std::vector<double>& sigmas);

// numpy helpers with numpy's exact arithmetic.
std::vector<double> np_linspace(double start, double stop, int num);                // endpoint included
std::vector<double> np_arange(double start, double stop, double step);
double np_interp_index(double x, const std::vector<double>& fp);  // np.interp(x, arange(len(fp)), fp)

// The `steps` inference timesteps of one spacing in descending order, before any rounding or dtype cast:
//   linspace: linspace(0, T-1, steps);  leading: arange(steps) * (T // steps) + steps_offset;
//   trailing: arange(T, 0, -T/steps).round() - 1
// Used by DDIM, DDPM, PNDM (rounded to integers) and the sigma schedulers (cast to float32).
std::vector<double> spaced_timesteps(TimestepSpacing spacing, int num_train_timesteps, int steps, int steps_offset);

// DPM-Solver / UniPC spacing: `steps + 1` points with the one nearest t = 0 dropped, integers, descending:
//   linspace: linspace(0, last - 1, steps + 1).round();  leading: arange(steps + 1) * (last // (steps + 1)) + offset;
//   trailing: arange(last, 0, -T/steps).round() - 1
// (`last_timestep` is T unless DPM's lambda_min_clipped cuts the noisy end.)
std::vector<double> multistep_timesteps(TimestepSpacing spacing, int num_train_timesteps, int last_timestep, int steps,
                                        int steps_offset);

// Karras et al. (2022) ramp between sigma_max and sigma_min, rho = 7 (in double, as numpy).
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps);
// Log-uniform ramp from sigma_max to sigma_min.
std::vector<double> exponential_sigmas(double sigma_min, double sigma_max, int steps);
// The continuous timestep whose interpolated log sigma is log(sigma) (diffusers' _sigma_to_t).
double sigma_to_t(double sigma, const std::vector<double>& log_sigmas);

}  // namespace sdpp::schedulers
