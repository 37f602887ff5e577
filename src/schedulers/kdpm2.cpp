// KDPM2DiscreteScheduler: k-diffusion's sample_dpm_2, a midpoint method in log sigma. Each step calls the model at
// sigma_i and at the geometric midpoint sqrt(sigma_i * sigma_{i+1}); the last step is a plain Euler step to 0.
#include <cmath>

#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/prediction.h"
#include "schedulers/sigma_scheduler.h"

namespace sdpp::schedulers {
namespace {

class KDPM2DiscreteScheduler final : public SigmaScheduler {
 public:
  explicit KDPM2DiscreteScheduler(const SchedulerConfig& config) : SigmaScheduler(config, ZeroSnr::Ignore) {
    if (config_.prediction_type == PredictionType::Sample)
      throw Error(ErrorCode::Unsupported, "KDPM2DiscreteScheduler does not support prediction_type sample");
  }

  int order() const override { return 2; }

 protected:
  void compute_schedule(int steps) override {
    Schedule s = spaced_schedule(steps, {.round_timesteps = true});
    const int n = int(s.sigmas.size());
    std::vector<double> sig(s.sigmas);
    sig.push_back(0.0);
    for (double& v : sig) v = f32(v);
    // Midpoints: interpol[j] = sqrt(sig[j] * sig[j-1]) for 1 <= j < n; interpol[n] = 0. (interpol[0] is never read.)
    std::vector<double> interpol(size_t(n) + 1, 0.0);
    for (int j = 1; j < n; ++j) interpol[size_t(j)] = f32(std::exp(0.5 * (std::log(sig[size_t(j)]) + std::log(sig[size_t(j) - 1]))));

    // Full tables: X[0], X[1], X[1], ..., X[n], X[n], X[n] (2n + 2 entries), as diffusers lays them out.
    sigmas_ = {sig[0]};
    interpol_ = {interpol[0]};
    for (int j = 1; j <= n; ++j) {
      sigmas_.insert(sigmas_.end(), 2, sig[size_t(j)]);
      interpol_.insert(interpol_.end(), 2, interpol[size_t(j)]);
    }
    sigmas_.push_back(sig[size_t(n)]);
    interpol_.push_back(interpol[size_t(n)]);
    // Model calls: t0, then (midpoint of step j, t_j) for j = 1..n-1.
    timesteps_ = {s.timesteps[0]};
    for (int j = 1; j < n; ++j) {
      timesteps_.push_back(f32(sigma_to_t(interpol[size_t(j)], log_sigmas_)));
      timesteps_.push_back(s.timesteps[size_t(j)]);
    }
  }

  void reset_state() override { first_sample_ = Tensor(); }

  double input_sigma(int index) const override {
    return first_sample_.defined() ? interpol_[size_t(index)] : sigmas_[size_t(index)];
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator*) override {
    if (!first_sample_.defined()) {
      // Euler step from sigma to the midpoint.
      const double sigma = sigmas_[size_t(index)], midpoint = interpol_[size_t(index) + 1];
      const double dt = midpoint - sigma;
      const Affine x0 = sigma_x0_prediction(config_.prediction_type, sigma);
      first_sample_ = sample;
      return Update().add(sample, 1.0 + dt / sigma).add(sample, model_output, x0, -dt / sigma).eval();
    }
    // The whole step from the saved sample with the slope at the midpoint.
    const double sigma = sigmas_[size_t(index) - 1], midpoint = interpol_[size_t(index)];
    const double dt = sigmas_[size_t(index)] - sigma;
    const Affine x0 = sigma_x0_prediction(config_.prediction_type, midpoint);
    Tensor out = Update()
                     .add(first_sample_, 1.0)
                     .add(sample, dt / midpoint)
                     .add(sample, model_output, x0, -dt / midpoint)
                     .eval();
    first_sample_ = Tensor();
    return out;
  }

 private:
  std::vector<double> interpol_;  // midpoint sigmas, laid out as sigmas_
  Tensor first_sample_;          // set between the two calls of a step
};

}  // namespace

std::unique_ptr<Scheduler> make_kdpm2(const SchedulerConfig& config) {
  return std::make_unique<KDPM2DiscreteScheduler>(config);
}

}  // namespace sdpp::schedulers
