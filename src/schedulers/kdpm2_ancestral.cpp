// KDPM2AncestralDiscreteScheduler: k-diffusion's sample_dpm_2_ancestral. Each step splits sigma_{i+1} into a
// deterministic part sigma_down and fresh noise sigma_up, takes the DPM2 midpoint step to sigma_down, then adds
// noise; the last step is a plain Euler step to 0.
#include <cmath>

#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/prediction.h"
#include "schedulers/sigma_scheduler.h"

namespace sdpp::schedulers {
namespace {

class KDPM2AncestralDiscreteScheduler final : public SigmaScheduler {
 public:
  explicit KDPM2AncestralDiscreteScheduler(const SchedulerConfig& config) : SigmaScheduler(config, ZeroSnr::Ignore) {
    if (config_.prediction_type == PredictionType::Sample)
      throw Error(ErrorCode::Unsupported, "KDPM2AncestralDiscreteScheduler does not support prediction_type sample");
  }

  int order() const override { return 2; }
  bool stochastic() const override { return true; }

 protected:
  void compute_schedule(int steps) override {
    Schedule s = spaced_schedule(steps, {.round_timesteps = true});
    const int n = int(s.sigmas.size());
    // Per-step tables in float32 arithmetic, as diffusers computes them (sigma_down suffers cancellation).
    std::vector<float> sig(size_t(n) + 1, 0.0f), up(size_t(n) + 1, 0.0f), down(size_t(n) + 1, 0.0f),
        interpol(size_t(n) + 1, 0.0f);
    for (int j = 0; j < n; ++j) sig[size_t(j)] = float(s.sigmas[size_t(j)]);
    for (int j = 0; j < n; ++j) {
      const float cur = sig[size_t(j)], next = sig[size_t(j) + 1];
      up[size_t(j)] = std::sqrt(next * next * (cur * cur - next * next) / (cur * cur));
      down[size_t(j)] = std::sqrt(next * next - up[size_t(j)] * up[size_t(j)]);
    }
    // Geometric mean of sigma and sigma_down (torch.lerp at weight 0.5 in log space); 0 for the last two.
    for (int j = 0; j + 1 < n; ++j) {
      const float a = std::log(sig[size_t(j)]), b = std::log(down[size_t(j)]);
      interpol[size_t(j)] = std::exp(b - (b - a) * 0.5f);
    }

    // Full tables: X[0], X[1], X[1], ..., X[n], X[n], X[n] (2n + 2 entries), as diffusers lays them out.
    auto layout = [n](const std::vector<float>& x) {
      std::vector<double> full = {x[0]};
      for (int j = 1; j <= n; ++j) full.insert(full.end(), 2, x[size_t(j)]);
      full.push_back(x[size_t(n)]);
      return full;
    };
    sigmas_ = layout(sig);
    interpol_ = layout(interpol);
    up_ = layout(up);
    down_ = layout(down);
    // Model calls: t0, then (midpoint of step j, t_{j+1}) for j = 0..n-2.
    timesteps_ = {s.timesteps[0]};
    for (int j = 0; j + 1 < n; ++j) {
      timesteps_.push_back(f32(sigma_to_t(interpol[size_t(j)], log_sigmas_)));
      timesteps_.push_back(s.timesteps[size_t(j) + 1]);
    }
  }

  void reset_state() override { first_sample_ = Tensor(); }

  double input_sigma(int index) const override {
    return first_sample_.defined() ? interpol_[size_t(index) - 1] : sigmas_[size_t(index)];
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator* noise) override {
    if (!first_sample_.defined()) {
      // Euler step from sigma to the midpoint.
      const double sigma = sigmas_[size_t(index)], midpoint = interpol_[size_t(index)];
      const double dt = midpoint - sigma;
      const Affine x0 = sigma_x0_prediction(config_.prediction_type, sigma);
      first_sample_ = sample;
      return Update().add(sample, 1.0 + dt / sigma).add(sample, model_output, x0, -dt / sigma).eval();
    }
    // From the saved sample down to sigma_down with the midpoint slope, then noise up to the next sigma.
    const size_t i = size_t(index) - 1;
    const double sigma = sigmas_[i], midpoint = interpol_[i];
    const double dt = down_[i] - sigma;
    const Affine x0 = sigma_x0_prediction(config_.prediction_type, midpoint);
    const Tensor fresh = draw_noise(noise, sample);
    Tensor out = Update()
                     .add(first_sample_, 1.0)
                     .add(sample, dt / midpoint)
                     .add(sample, model_output, x0, -dt / midpoint)
                     .add(fresh, up_[i])
                     .eval();
    first_sample_ = Tensor();
    return out;
  }

 private:
  std::vector<double> interpol_, up_, down_;  // laid out as sigmas_
  Tensor first_sample_;                       // set between the two calls of a step
};

}  // namespace

std::unique_ptr<Scheduler> make_kdpm2_ancestral(const SchedulerConfig& config) {
  return std::make_unique<KDPM2AncestralDiscreteScheduler>(config);
}

}  // namespace sdpp::schedulers
