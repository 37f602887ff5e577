// PNDMScheduler (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models on Manifolds"): Runge-Kutta warm-up
// steps (PRK), then linear multistep (PLMS); `skip_prk_steps` starts PLMS at once with a Heun-like second call.
#include <algorithm>

#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/noise_schedule.h"

namespace sdpp::schedulers {
namespace {

class PNDMScheduler final : public Scheduler {
 public:
  explicit PNDMScheduler(const SchedulerConfig& config)
      : Scheduler(config), schedule_(make_noise_schedule(config_, ZeroSnr::Ignore)) {
    if (config_.prediction_type == PredictionType::Sample)
      throw Error(ErrorCode::Unsupported, "PNDMScheduler supports prediction_type epsilon or v_prediction, not sample");
    final_alpha_cumprod_ = config_.set_alpha_to_one ? 1.0 : schedule_.alphas_cumprod[0];
  }

 protected:
  void compute_schedule(int steps) override {
    const int T = config_.num_train_timesteps;
    // Ascending base timesteps.
    std::vector<double> base = spaced_timesteps(config_.timestep_spacing, T, steps, config_.steps_offset);
    for (double& t : base) t = round_half_even(t);
    std::reverse(base.begin(), base.end());
    const int n = int(base.size());
    prk_timesteps_.clear();
    if (config_.skip_prk_steps) {
      // base[:-1] + base[-2:-1] + base[-1:], reversed: the second-largest timestep is visited twice.
      std::vector<double> plms(base.begin(), base.end() - 1);
      if (n >= 2) plms.push_back(base[size_t(n) - 2]);
      plms.push_back(base.back());
      timesteps_.assign(plms.rbegin(), plms.rend());
    } else {
      // Four RK4 steps over the largest timesteps, each taken as two half steps of T // steps // 2.
      const int half = T / steps / 2;
      std::vector<double> prk;
      for (int i = std::max(n - 4, 0); i < n; ++i) {
        prk.push_back(base[size_t(i)]);
        prk.push_back(base[size_t(i)] + half);
      }
      prk.pop_back();  // prk[:-1].repeat(2)[1:-1][::-1]
      std::vector<double> doubled;
      for (double t : prk) doubled.insert(doubled.end(), {t, t});
      if (doubled.size() >= 2) prk_timesteps_.assign(doubled.begin() + 1, doubled.end() - 1);
      std::reverse(prk_timesteps_.begin(), prk_timesteps_.end());
      timesteps_ = prk_timesteps_;
      for (int i = n - 4; i >= 0; --i) timesteps_.push_back(base[size_t(i)]);  // base[:-3][::-1]
    }
  }

  void reset_state() override {
    counter_ = 0;
    ets_.clear();
    prk_sum_ = Update();
    cur_sample_ = Tensor();
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator*) override {
    const int t = int(timesteps_[size_t(index)]);
    Tensor out = counter_ < int(prk_timesteps_.size()) && !config_.skip_prk_steps ? step_prk(model_output, t, sample)
                                                                                 : step_plms(model_output, t, sample);
    ++counter_;
    return out;
  }

  Tensor add_noise_impl(const Tensor& original, const Tensor& noise, int index) const override {
    return alpha_add_noise(schedule_.alphas_cumprod[size_t(timesteps_[size_t(index)])], original, noise);
  }

 private:
  Tensor step_prk(const Update& model_output, int t, const Tensor& sample) {
    const int T = config_.num_train_timesteps;
    const int diff_to_prev = counter_ % 2 ? 0 : T / num_inference_steps_ / 2;
    const int prev_t = t - diff_to_prev;
    const int from_t = int(prk_timesteps_[size_t(counter_ / 4 * 4)]);
    Update eps;
    switch (counter_ % 4) {
      case 0:
        prk_sum_.add(model_output, 1.0 / 6);
        ets_.push_back(model_output);
        cur_sample_ = sample;
        eps.add(model_output, 1.0);
        break;
      case 1:
      case 2:
        prk_sum_.add(model_output, 1.0 / 3);
        eps.add(model_output, 1.0);
        break;
      case 3:
        eps.add(prk_sum_, 1.0).add(model_output, 1.0 / 6);
        prk_sum_ = Update();
        break;
    }
    return prev_sample(cur_sample_.defined() ? cur_sample_ : sample, from_t, prev_t, eps);
  }

  Tensor step_plms(const Update& model_output, int t, const Tensor& sample) {
    if (!config_.skip_prk_steps && ets_.size() < 3)
      throw Error(ErrorCode::Internal, "PNDMScheduler: PLMS step before three PRK steps");
    const int stride = config_.num_train_timesteps / num_inference_steps_;
    int prev_t = t - stride;
    if (counter_ != 1) {
      if (ets_.size() > 3) ets_.erase(ets_.begin(), ets_.end() - 3);
      ets_.push_back(model_output);
    } else {
      prev_t = t;
      t = t + stride;
    }
    Tensor x = sample;
    Update eps;
    const size_t n = ets_.size();
    if (n == 1 && counter_ == 0) {
      eps.add(model_output, 1.0);
      cur_sample_ = sample;
    } else if (n == 1 && counter_ == 1) {
      // The second call redoes the first step with the average of both model outputs.
      eps.add(model_output, 0.5).add(ets_[0], 0.5);
      x = cur_sample_;
      cur_sample_ = Tensor();
    } else if (n == 2) {
      eps.add(ets_[1], 1.5).add(ets_[0], -0.5);
    } else if (n == 3) {
      eps.add(ets_[2], 23.0 / 12).add(ets_[1], -16.0 / 12).add(ets_[0], 5.0 / 12);
    } else {
      eps.add(ets_[3], 55.0 / 24).add(ets_[2], -59.0 / 24).add(ets_[1], 37.0 / 24).add(ets_[0], -9.0 / 24);
    }
    return prev_sample(x, t, prev_t, eps);
  }

  // diffusers' _get_prev_sample (formula (9) of the paper) for the (combined) model output `eps`.
  Tensor prev_sample(const Tensor& sample, int t, int prev_t, const Update& model_output) const {
    const double a = schedule_.alphas_cumprod[size_t(t)];
    const double a_prev = prev_t >= 0 ? schedule_.alphas_cumprod[size_t(prev_t)] : final_alpha_cumprod_;
    const double b = 1 - a, b_prev = 1 - a_prev;
    Update eps;
    if (config_.prediction_type == PredictionType::VPrediction)
      eps.add(model_output, std::sqrt(a)).add(sample, std::sqrt(b));
    else
      eps.add(model_output, 1.0);
    const double sample_coeff = std::sqrt(a_prev / a);
    const double denom = a * std::sqrt(b_prev) + std::sqrt(a * b * a_prev);
    return Update().add(sample, sample_coeff).add(eps, -(a_prev - a) / denom).eval();
  }

  NoiseSchedule schedule_;
  double final_alpha_cumprod_ = 1.0;
  std::vector<double> prk_timesteps_;
  int counter_ = 0;
  std::vector<Update> ets_;  // the model outputs as given, oldest first
  Update prk_sum_;           // 1/6, 1/3, 1/3 weighted RK4 stages so far
  Tensor cur_sample_;
};

}  // namespace

std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& config) { return std::make_unique<PNDMScheduler>(config); }

}  // namespace sdpp::schedulers
