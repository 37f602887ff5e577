// EulerAncestralDiscreteScheduler: an Euler step down to sigma_down, then fresh noise of sigma_up (k-diffusion's
// sample_euler_ancestral with eta = 1).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/prediction.h"
#include "schedulers/sigma_scheduler.h"

namespace sdpp::schedulers {
namespace {

class EulerAncestralDiscreteScheduler final : public SigmaScheduler {
 public:
  explicit EulerAncestralDiscreteScheduler(const SchedulerConfig& config)
      : SigmaScheduler(config, ZeroSnr::RescaleClamped) {
    if (config_.prediction_type == PredictionType::Sample)
      throw Error(ErrorCode::Unsupported, "EulerAncestralDiscreteScheduler does not support prediction_type sample");
  }

  bool stochastic() const override { return true; }

 protected:
  void compute_schedule(int steps) override {
    Schedule s = spaced_schedule(steps, {.offered = false});  // this class has no Karras option
    timesteps_ = std::move(s.timesteps);
    sigmas_ = std::move(s.sigmas);
    sigmas_.push_back(0.0);
    for (double& sigma : sigmas_) sigma = f32(sigma);
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator* noise) override {
    const double sigma = sigmas_[size_t(index)], sigma_to = sigmas_[size_t(index) + 1];
    const double sigma_up = std::sqrt(sigma_to * sigma_to * (sigma * sigma - sigma_to * sigma_to) / (sigma * sigma));
    const double sigma_down = std::sqrt(std::max(sigma_to * sigma_to - sigma_up * sigma_up, 0.0));
    const double dt = sigma_down - sigma;
    const Affine x0 = sigma_x0_prediction(config_.prediction_type, sigma);
    // The noise is drawn on every step, the last included (sigma_up = 0 there), to keep the generator in step.
    const Tensor fresh = draw_noise(noise, sample);
    return Update()
        .add(sample, 1.0 + dt / sigma)
        .add(sample, model_output, x0, -dt / sigma)
        .add(fresh, sigma_up)
        .eval();
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& config) {
  return std::make_unique<EulerAncestralDiscreteScheduler>(config);
}

}  // namespace sdpp::schedulers
