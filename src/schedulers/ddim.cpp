// DDIMScheduler (Song et al. 2020, "Denoising Diffusion Implicit Models"): deterministic for eta = 0.
#include <algorithm>

#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/noise_schedule.h"
#include "schedulers/prediction.h"
#include "schedulers/sample_clipping.h"

namespace sdpp::schedulers {
namespace {

constexpr X0Clipping kClipping{.clip_sample = true, .thresholding = true};

class DDIMScheduler final : public Scheduler {
 public:
  explicit DDIMScheduler(const SchedulerConfig& config)
      : Scheduler(config), schedule_(make_noise_schedule(config_, ZeroSnr::Rescale)) {
    if (config_.eta < 0) throw Error(ErrorCode::InvalidArgument, "DDIM eta = " + std::to_string(config_.eta) + " < 0");
    final_alpha_cumprod_ = config_.set_alpha_to_one ? 1.0 : schedule_.alphas_cumprod[0];
  }

  bool stochastic() const override { return config_.eta > 0; }


 protected:
  void compute_schedule(int steps) override {
    timesteps_ = spaced_timesteps(config_.timestep_spacing, config_.num_train_timesteps, steps, config_.steps_offset);
    for (double& t : timesteps_) t = round_half_even(t);
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator* noise) override {
    const int t = int(timesteps_[size_t(index)]);
    // DDIM steps back by the leading stride whatever the spacing, as diffusers does.
    const int prev_t = t - config_.num_train_timesteps / num_inference_steps_;
    const double a = schedule_.alphas_cumprod[size_t(t)];
    const double a_prev = prev_t >= 0 ? schedule_.alphas_cumprod[size_t(prev_t)] : final_alpha_cumprod_;
    const AlphaPrediction pred = alpha_prediction(config_.prediction_type, a);

    const double variance = (1 - a_prev) / (1 - a) * (1 - a / a_prev);
    const double std_dev = config_.eta * std::sqrt(variance);
    const double direction = std::sqrt(std::max(1 - a_prev - std_dev * std_dev, 0.0));

    // prev = sqrt(a_prev) * x0 + direction * eps (+ std_dev * noise)
    Update update;
    if (clips_x0(config_, kClipping)) {
      const Tensor x0 = clip_x0(config_, kClipping, Update().add(sample, model_output, pred.x0).eval());
      update.add(x0, std::sqrt(a_prev));
    } else {
      update.add(sample, model_output, pred.x0, std::sqrt(a_prev));
    }
    update.add(sample, model_output, pred.eps, direction);
    if (config_.eta > 0) update.add(draw_noise(noise, sample), std_dev);
    return update.eval();
  }

  Tensor add_noise_impl(const Tensor& original, const Tensor& noise, int index) const override {
    return alpha_add_noise(schedule_.alphas_cumprod[size_t(timesteps_[size_t(index)])], original, noise);
  }

 private:
  NoiseSchedule schedule_;
  double final_alpha_cumprod_ = 1.0;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& config) { return std::make_unique<DDIMScheduler>(config); }

}  // namespace sdpp::schedulers
