// HeunDiscreteScheduler: Heun's second-order method (Karras et al. 2022, Algorithm 1 without churn). Every step but
// the last takes two model calls; timesteps() lists both.
#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/prediction.h"
#include "schedulers/sample_clipping.h"
#include "schedulers/sigma_scheduler.h"

namespace sdpp::schedulers {
namespace {

constexpr X0Clipping kClipping{.clip_sample = true, .thresholding = false};

class HeunDiscreteScheduler final : public SigmaScheduler {
 public:
  explicit HeunDiscreteScheduler(const SchedulerConfig& config) : SigmaScheduler(config, ZeroSnr::Ignore) {}

  int order() const override { return 2; }

 protected:
  void compute_schedule(int steps) override {
    Schedule s = spaced_schedule(steps, {});
    s.sigmas.push_back(0.0);
    // sigmas [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0]; timesteps [t0, t1, t1, ..., t_{n-1}, t_{n-1}].
    sigmas_ = {f32(s.sigmas[0])};
    timesteps_ = {s.timesteps[0]};
    for (size_t i = 1; i + 1 < s.sigmas.size(); ++i) sigmas_.insert(sigmas_.end(), 2, f32(s.sigmas[i]));
    for (size_t i = 1; i < s.timesteps.size(); ++i) timesteps_.insert(timesteps_.end(), 2, s.timesteps[i]);
    sigmas_.push_back(0.0);
  }

  void reset_state() override {
    first_derivative_ = Update();
    first_sample_ = Tensor();
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator*) override {
    const bool first_order = !first_sample_.defined();
    const double sigma = sigmas_[size_t(first_order ? index : index - 1)];
    const double sigma_next = sigmas_[size_t(first_order ? index + 1 : index)];
    // The x0 prediction at the sigma the model was called at.
    const double sigma_input = first_order ? sigma : sigma_next;
    Update derivative;  // (x - x0) / sigma_input
    const Affine x0 = sigma_x0_prediction(config_.prediction_type, sigma_input);
    if (clips_x0(config_, kClipping)) {
      const Tensor clipped = clip_x0(config_, kClipping, Update().add(sample, model_output, x0).eval());
      derivative.add(sample, 1 / sigma_input).add(clipped, -1 / sigma_input);
    } else {
      derivative.add(sample, 1 / sigma_input).add(sample, model_output, x0, -1 / sigma_input);
    }
    const double dt = sigma_next - sigma;
    if (first_order) {
      first_derivative_ = derivative;
      first_sample_ = sample;
      return Update().add(sample, 1.0).add(derivative, dt).eval();
    }
    // Average of both slopes, applied from the step's starting sample.
    Tensor out = Update().add(first_sample_, 1.0).add(first_derivative_, dt / 2).add(derivative, dt / 2).eval();
    reset_state();
    return out;
  }

 private:
  Update first_derivative_;
  Tensor first_sample_;
};

}  // namespace

std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& config) {
  return std::make_unique<HeunDiscreteScheduler>(config);
}

}  // namespace sdpp::schedulers
