// DDPMScheduler (Ho et al. 2020, "Denoising Diffusion Probabilistic Models"): ancestral sampling over the
// inference timesteps with the posterior variance.
#include <algorithm>

#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/noise_schedule.h"
#include "schedulers/prediction.h"
#include "schedulers/sample_clipping.h"

namespace sdpp::schedulers {
namespace {

constexpr X0Clipping kClipping{.clip_sample = true, .thresholding = true};

class DDPMScheduler final : public Scheduler {
 public:
  explicit DDPMScheduler(const SchedulerConfig& config)
      : Scheduler(config), schedule_(make_noise_schedule(config_, ZeroSnr::Rescale)) {}

  bool stochastic() const override { return true; }

 protected:
  void compute_schedule(int steps) override {
    timesteps_ = spaced_timesteps(config_.timestep_spacing, config_.num_train_timesteps, steps, config_.steps_offset);
    for (double& t : timesteps_) t = round_half_even(t);
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator* noise) override {
    const int t = int(timesteps_[size_t(index)]);
    const int prev_t = index + 1 < int(timesteps_.size()) ? int(timesteps_[size_t(index) + 1]) : -1;
    const double a = schedule_.alphas_cumprod[size_t(t)];
    const double a_prev = prev_t >= 0 ? schedule_.alphas_cumprod[size_t(prev_t)] : 1.0;
    const double b = 1 - a, b_prev = 1 - a_prev;
    const double current_alpha = a / a_prev, current_beta = 1 - current_alpha;
    const AlphaPrediction pred = alpha_prediction(config_.prediction_type, a);

    // Posterior mean: x0 weight sqrt(a_prev) beta_t / (1 - a), sample weight sqrt(alpha_t) (1 - a_prev) / (1 - a).
    const double x0_coeff = std::sqrt(a_prev) * current_beta / b;
    const double sample_coeff = std::sqrt(current_alpha) * b_prev / b;
    Update update;
    if (clips_x0(config_, kClipping)) {
      const Tensor x0 = clip_x0(config_, kClipping, Update().add(sample, model_output, pred.x0).eval());
      update.add(x0, x0_coeff);
    } else {
      update.add(sample, model_output, pred.x0, x0_coeff);
    }
    update.add(sample, sample_coeff);
    if (t > 0) {
      const double variance = std::max(b_prev / b * current_beta, 1e-20);
      double std_dev = std::sqrt(variance);
      if (config_.variance_type == DdpmVariance::FixedLarge) std_dev = std::sqrt(current_beta);
      update.add(draw_noise(noise, sample), std_dev);
    }
    return update.eval();
  }

  Tensor add_noise_impl(const Tensor& original, const Tensor& noise, int index) const override {
    return alpha_add_noise(schedule_.alphas_cumprod[size_t(timesteps_[size_t(index)])], original, noise);
  }

 private:
  NoiseSchedule schedule_;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddpm(const SchedulerConfig& config) { return std::make_unique<DDPMScheduler>(config); }

}  // namespace sdpp::schedulers
