#include "schedulers/noise_schedule.h"

#include <algorithm>
#include <cfenv>
#include <cmath>

#include "core/error.h"

namespace sdpp::schedulers {
namespace {

// torch.linspace(start, end, steps, dtype=float32) on the cpu: float arithmetic, filled from both ends.
std::vector<double> torch_linspace_f32(double start_d, double end_d, int steps) {
  std::vector<double> out(static_cast<size_t>(steps));
  const float start = float(start_d), end = float(end_d);
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / float(steps - 1);
  const int halfway = steps / 2;
  for (int i = 0; i < steps; ++i)
    out[size_t(i)] = i < halfway ? start + step * float(i) : end - step * float(steps - i - 1);
  return out;
}

// diffusers' betas_for_alpha_bar: betas from a continuous alpha_bar(t), computed in double, stored as float32.
template <class AlphaBar>
std::vector<double> betas_for_alpha_bar(int n, AlphaBar alpha_bar, double max_beta = 0.999) {
  std::vector<double> betas(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const double t1 = double(i) / n, t2 = double(i + 1) / n;
    betas[size_t(i)] = f32(std::min(1 - alpha_bar(t2) / alpha_bar(t1), max_beta));
  }
  return betas;
}

// Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed": shift and scale sqrt(alpha_bar)
// so the last timestep has zero SNR.
std::vector<double> rescale_zero_terminal_snr(const std::vector<double>& betas) {
  const size_t n = betas.size();
  std::vector<double> sqrt_ab(n);
  double prod = 1.0;
  for (size_t i = 0; i < n; ++i) {
    prod *= f32(1.0 - betas[i]);
    sqrt_ab[i] = std::sqrt(f32(prod));
  }
  const double first = sqrt_ab[0], last = sqrt_ab[n - 1];
  std::vector<double> out(n);
  double prev_ab = 0;
  for (size_t i = 0; i < n; ++i) {
    const double s = (sqrt_ab[i] - last) * first / (first - last);
    const double ab = s * s;
    out[i] = f32(1.0 - (i == 0 ? ab : ab / prev_ab));
    prev_ab = ab;
  }
  return out;
}

}  // namespace

double round_half_even(double x) {
  // nearbyint honours the current rounding mode, which is round-to-nearest-even unless someone changed it.
  return std::nearbyint(x);
}

NoiseSchedule make_noise_schedule(const SchedulerConfig& c, ZeroSnr zero_snr) {
  const int n = c.num_train_timesteps;
  NoiseSchedule s;
  if (!c.trained_betas.empty()) {
    for (double b : c.trained_betas) s.betas.push_back(f32(b));
  } else {
    switch (c.beta_schedule) {
      case BetaSchedule::Linear: s.betas = torch_linspace_f32(c.beta_start, c.beta_end, n); break;
      case BetaSchedule::ScaledLinear:
        s.betas = torch_linspace_f32(std::sqrt(c.beta_start), std::sqrt(c.beta_end), n);
        for (double& b : s.betas) b = f32(b * b);
        break;
      case BetaSchedule::SquaredCosCapV2:
        s.betas = betas_for_alpha_bar(n, [](double t) {
          const double v = std::cos((t + 0.008) / 1.008 * M_PI / 2);
          return v * v;
        });
        break;
      case BetaSchedule::Exp:
        s.betas = betas_for_alpha_bar(n, [](double t) { return std::exp(t * -12.0); });
        break;
      case BetaSchedule::Sigmoid: {
        const float scale = float(c.beta_end - c.beta_start), offset = float(c.beta_start);
        s.betas = torch_linspace_f32(-6, 6, n);
        for (double& b : s.betas) b = 1.0f / (1.0f + std::exp(-float(b))) * scale + offset;
        break;
      }
    }
  }
  if (zero_snr != ZeroSnr::Ignore && c.rescale_betas_zero_snr) s.betas = rescale_zero_terminal_snr(s.betas);

  // torch.cumprod on float32 accumulates in double and stores float32.
  s.alphas_cumprod.resize(size_t(n));
  double prod = 1.0;
  for (int i = 0; i < n; ++i) {
    prod *= f32(1.0 - s.betas[size_t(i)]);
    s.alphas_cumprod[size_t(i)] = f32(prod);
  }
  if (zero_snr == ZeroSnr::RescaleClamped && c.rescale_betas_zero_snr) s.alphas_cumprod.back() = std::ldexp(1.0, -24);
  for (int i = 0; i < n; ++i)
    if (!(s.alphas_cumprod[size_t(i)] > 0) && !(c.rescale_betas_zero_snr && i == n - 1))
      throw Error(ErrorCode::InvalidArgument, "scheduler config: alphas_cumprod[" + std::to_string(i) +
                                                  "] is not positive; the betas reach 1");
  return s;
}

std::vector<double> sigmas_from_alphas_cumprod(const std::vector<double>& alphas_cumprod) {
  std::vector<double> out(alphas_cumprod.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const float ac = float(alphas_cumprod[i]);
    out[i] = std::sqrt((1.0f - ac) / ac);
  }
  return out;
}

std::vector<double> log_sigmas_f32(const std::vector<double>& sigmas) {
  std::vector<double> out(sigmas.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::log(float(sigmas[i]));
  return out;
}

std::vector<double> np_linspace(double start, double stop, int num) {
  std::vector<double> y(size_t(std::max(num, 0)));
  if (num <= 0) return y;
  const int div = num - 1;
  const double delta = stop - start;
  if (div == 0) {
    y[0] = start;
    return y;
  }
  const double step = delta / div;
  for (int i = 0; i < num; ++i) y[size_t(i)] = step == 0 ? double(i) / div * delta + start : double(i) * step + start;
  y.back() = stop;
  return y;
}

std::vector<double> np_arange(double start, double stop, double step) {
  const double len = std::ceil((stop - start) / step);
  std::vector<double> y;
  if (!(len > 0)) return y;
  y.resize(size_t(len));
  // numpy fills from the first two values: start + i * ((start + step) - start).
  const double delta = (start + step) - start;
  y[0] = start;
  for (size_t i = 1; i < y.size(); ++i) y[i] = start + double(i) * delta;
  return y;
}

double np_interp_index(double x, const std::vector<double>& fp) {
  const int n = int(fp.size());
  if (x <= 0) return fp.front();
  if (x >= n - 1) return fp.back();
  const int j = int(std::floor(x));
  if (double(j) == x) return fp[size_t(j)];
  const double slope = fp[size_t(j) + 1] - fp[size_t(j)];
  return slope * (x - j) + fp[size_t(j)];
}

std::vector<double> spaced_timesteps(TimestepSpacing spacing, int num_train_timesteps, int steps, int steps_offset) {
  const int T = num_train_timesteps;
  std::vector<double> t;
  switch (spacing) {
    case TimestepSpacing::Linspace:
      t = np_linspace(0, T - 1, steps);
      std::reverse(t.begin(), t.end());
      break;
    case TimestepSpacing::Leading: {
      const int ratio = T / steps;
      for (int i = steps - 1; i >= 0; --i) t.push_back(double(i) * ratio + steps_offset);
      break;
    }
    case TimestepSpacing::Trailing:
      t = np_arange(T, 0, -double(T) / steps);
      for (double& v : t) v = round_half_even(v) - 1;
      break;
  }
  return t;
}

std::vector<double> multistep_timesteps(TimestepSpacing spacing, int num_train_timesteps, int last_timestep, int steps,
                                        int steps_offset) {
  std::vector<double> t;
  switch (spacing) {
    case TimestepSpacing::Linspace:
      t = np_linspace(0, last_timestep - 1, steps + 1);
      for (double& v : t) v = round_half_even(v);
      std::reverse(t.begin(), t.end());
      t.pop_back();
      break;
    case TimestepSpacing::Leading: {
      const int ratio = last_timestep / (steps + 1);
      for (int i = steps; i >= 1; --i) t.push_back(double(i) * ratio + steps_offset);
      break;
    }
    case TimestepSpacing::Trailing:
      t = np_arange(last_timestep, 0, -double(num_train_timesteps) / steps);
      for (double& v : t) v = round_half_even(v) - 1;
      break;
  }
  return t;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps) {
  const double rho = 7.0;
  const std::vector<double> ramp = np_linspace(0, 1, steps);
  const double min_inv_rho = std::pow(sigma_min, 1 / rho), max_inv_rho = std::pow(sigma_max, 1 / rho);
  std::vector<double> out(ramp.size());
  for (size_t i = 0; i < ramp.size(); ++i) out[i] = std::pow(max_inv_rho + ramp[i] * (min_inv_rho - max_inv_rho), rho);
  return out;
}

std::vector<double> exponential_sigmas(double sigma_min, double sigma_max, int steps) {
  std::vector<double> out = np_linspace(std::log(sigma_max), std::log(sigma_min), steps);
  for (double& v : out) v = std::exp(v);
  return out;
}

double sigma_to_t(double sigma, const std::vector<double>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const int n = int(log_sigmas.size());
  // Index of the last log sigma <= log_sigma (0 when there is none), at most n - 2.
  int low = 0;
  for (int i = 0; i < n; ++i)
    if (log_sigma - log_sigmas[size_t(i)] >= 0) low = i;
  low = std::min(low, n - 2);
  const double lo = log_sigmas[size_t(low)], hi = log_sigmas[size_t(low) + 1];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1 - w) * low + w * (low + 1);
}

}  // namespace sdpp::schedulers
