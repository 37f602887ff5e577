// LCMScheduler (Luo et al. 2023, "Latent Consistency Models"): a consistency-model denoise at each timestep, then
// re-noising to the next one.
#include <cmath>

#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/noise_schedule.h"
#include "schedulers/prediction.h"
#include "schedulers/sample_clipping.h"

namespace sdpp::schedulers {
namespace {

constexpr X0Clipping kClipping{.clip_sample = true, .thresholding = true};

class LCMScheduler final : public Scheduler {
 public:
  explicit LCMScheduler(const SchedulerConfig& config)
      : Scheduler(config), schedule_(make_noise_schedule(config_, ZeroSnr::Rescale)) {
    final_alpha_cumprod_ = config_.set_alpha_to_one ? 1.0 : schedule_.alphas_cumprod[0];
  }

  bool stochastic() const override { return true; }

 protected:
  // LCM ignores timestep_spacing: it picks evenly among the `original_inference_steps` timesteps of its distillation
  // schedule (every T // original_steps - 1).
  void compute_schedule(int steps) override {
    const int original_steps = config_.original_inference_steps;
    if (original_steps > config_.num_train_timesteps)
      throw Error(ErrorCode::InvalidArgument, "LCMScheduler: original_inference_steps " +
                                                  std::to_string(original_steps) + " > num_train_timesteps");
    if (steps > original_steps)
      throw Error(ErrorCode::InvalidArgument, "LCMScheduler: steps = " + std::to_string(steps) +
                                                  " exceeds original_inference_steps = " + std::to_string(original_steps));
    const int k = config_.num_train_timesteps / original_steps;
    std::vector<double> origin;  // descending: original_steps * k - 1, ..., k - 1
    for (int i = original_steps; i >= 1; --i) origin.push_back(double(i) * k - 1);
    const double stride = double(origin.size()) / steps;  // np.linspace(0, len, steps, endpoint=False)
    for (int i = 0; i < steps; ++i) timesteps_.push_back(origin[size_t(std::floor(double(i) * stride))]);
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator* noise) override {
    const int t = int(timesteps_[size_t(index)]);
    const int prev_t = index + 1 < int(timesteps_.size()) ? int(timesteps_[size_t(index) + 1]) : t;
    const double a = schedule_.alphas_cumprod[size_t(t)];
    const double a_prev = prev_t >= 0 ? schedule_.alphas_cumprod[size_t(prev_t)] : final_alpha_cumprod_;
    const AlphaPrediction pred = alpha_prediction(config_.prediction_type, a);

    // Boundary-condition scalings with sigma_data = 0.5.
    const double scaled_t = t * config_.timestep_scaling;
    const double c_skip = 0.25 / (scaled_t * scaled_t + 0.25);
    const double c_out = scaled_t / std::sqrt(scaled_t * scaled_t + 0.25);

    Update denoised;
    if (clips_x0(config_, kClipping))
      denoised.add(clip_x0(config_, kClipping, Update().add(sample, model_output, pred.x0).eval()), c_out);
    else
      denoised.add(sample, model_output, pred.x0, c_out);
    denoised.add(sample, c_skip);
    if (index == num_inference_steps_ - 1) return denoised.eval();
    return Update()
        .add(denoised, std::sqrt(a_prev))
        .add(draw_noise(noise, sample), std::sqrt(1 - a_prev))
        .eval();
  }

  Tensor add_noise_impl(const Tensor& original, const Tensor& noise, int index) const override {
    return alpha_add_noise(schedule_.alphas_cumprod[size_t(timesteps_[size_t(index)])], original, noise);
  }

 private:
  NoiseSchedule schedule_;
  double final_alpha_cumprod_ = 1.0;
};

}  // namespace

std::unique_ptr<Scheduler> make_lcm(const SchedulerConfig& config) { return std::make_unique<LCMScheduler>(config); }

}  // namespace sdpp::schedulers
