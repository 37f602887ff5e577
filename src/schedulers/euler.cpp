// EulerDiscreteScheduler: Euler's method on the probability-flow ODE (Karras et al. 2022, Algorithm 2 without churn).
#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/prediction.h"
#include "schedulers/sigma_scheduler.h"

namespace sdpp::schedulers {
namespace {

class EulerDiscreteScheduler final : public SigmaScheduler {
 public:
  explicit EulerDiscreteScheduler(const SchedulerConfig& config) : SigmaScheduler(config, ZeroSnr::RescaleClamped) {}

 protected:
  void compute_schedule(int steps) override {
    Schedule s = spaced_schedule(steps, {.config_bounds = true, .round_timesteps = false});
    timesteps_ = std::move(s.timesteps);
    sigmas_ = std::move(s.sigmas);
    sigmas_.push_back(config_.final_sigmas_type == FinalSigmas::SigmaMin ? train_sigmas_.front() : 0.0);
    for (double& sigma : sigmas_) sigma = f32(sigma);
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator*) override {
    const double sigma = sigmas_[size_t(index)], dt = sigmas_[size_t(index) + 1] - sigma;
    const Affine x0 = sigma_x0_prediction(config_.prediction_type, sigma);
    // prev = x + (x - x0) / sigma * dt
    return Update().add(sample, 1.0 + dt / sigma).add(sample, model_output, x0, -dt / sigma).eval();
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& config) {
  return std::make_unique<EulerDiscreteScheduler>(config);
}

}  // namespace sdpp::schedulers
