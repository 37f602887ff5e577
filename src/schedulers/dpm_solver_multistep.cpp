// DPMSolverMultistepScheduler: DPM-Solver++ (Lu et al. 2022) multistep in data prediction, orders 1-3, and its SDE
// variant (sde-dpmsolver++, AUTOMATIC1111's "DPM++ 2M SDE"), on variance-preserving latents x = alpha x0 + sigma eps.
#include <algorithm>
#include <cmath>
#include <deque>

#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/noise_schedule.h"
#include "schedulers/prediction.h"
#include "schedulers/sample_clipping.h"

namespace sdpp::schedulers {
namespace {

constexpr X0Clipping kClipping{.clip_sample = false, .thresholding = true};

// Half-log-SNR of Karras sigma s: log(alpha_t) - log(sigma_t) = -log(s).
double lambda_of(double sigma) { return -std::log(sigma); }

class DPMSolverMultistepScheduler final : public Scheduler {
 public:
  explicit DPMSolverMultistepScheduler(const SchedulerConfig& config)
      : Scheduler(config),
        schedule_(make_noise_schedule(config_, ZeroSnr::RescaleClamped)),
        train_sigmas_(sigmas_from_alphas_cumprod(schedule_.alphas_cumprod)),
        log_sigmas_(log_sigmas_f32(train_sigmas_)) {}

  bool stochastic() const override { return config_.algorithm_type == DpmAlgorithm::SdeDpmSolverPP; }

 protected:
  void compute_schedule(int steps) override {
    const int T = config_.num_train_timesteps;
    // lambda_min_clipped drops the noisiest timesteps whose lambda falls below it (searchsorted on ascending lambdas).
    int clipped = 0;
    for (int i = T - 1; i >= 0 && lambda_t(i) < config_.lambda_min_clipped; --i) ++clipped;
    const int last_timestep = T - clipped;
    timesteps_ = multistep_timesteps(config_.timestep_spacing, T, last_timestep, steps, config_.steps_offset);
    std::vector<double> sig;
    if (config_.use_karras_sigmas || config_.use_exponential_sigmas) {
      const double lo = train_sigmas_.front(), hi = train_sigmas_.back();
      sig = config_.use_karras_sigmas ? karras_sigmas(lo, hi, steps) : exponential_sigmas(lo, hi, steps);
      timesteps_.clear();
      const bool round = config_.use_karras_sigmas && config_.beta_schedule != BetaSchedule::SquaredCosCapV2;
      for (double s : sig) {
        const double t = sigma_to_t(s, log_sigmas_);
        timesteps_.push_back(round ? round_half_even(t) : t);
      }
    } else {
      for (double t : timesteps_) sig.push_back(np_interp_index(t, train_sigmas_));
    }
    for (double& t : timesteps_) t = std::trunc(t);  // stored as int64
    sig.push_back(config_.final_sigmas_type == FinalSigmas::SigmaMin ? train_sigmas_.front() : 0.0);
    for (double s : sig) sigmas_.push_back(f32(s));
  }

  void reset_state() override {
    model_outputs_.clear();
    lower_order_nums_ = 0;
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator* noise) override {
    const int n = int(timesteps_.size());
    const bool final_step = index == n - 1;
    const bool lower_order_final =
        final_step && (config_.euler_at_final || (config_.lower_order_final && n < 15) ||
                       config_.final_sigmas_type == FinalSigmas::Zero);
    const bool lower_order_second = index == n - 2 && config_.lower_order_final && n < 15;

    // The data prediction x0 is what the solver extrapolates.
    const AlphaSigma s0 = vp_alpha_sigma(sigmas_[size_t(index)]);
    Update x0;
    x0.add(sample, model_output, vp_x0_prediction(config_.prediction_type, s0.alpha, s0.sigma));
    if (clips_x0(config_, kClipping)) x0 = Update().add(clip_x0(config_, kClipping, x0.eval()), 1.0);
    model_outputs_.push_back(x0);
    if (int(model_outputs_.size()) > config_.solver_order) model_outputs_.pop_front();

    Tensor fresh;
    if (stochastic()) fresh = draw_noise(noise, sample);

    int order = 3;
    if (config_.solver_order == 1 || lower_order_nums_ < 1 || lower_order_final)
      order = 1;
    else if (config_.solver_order == 2 || lower_order_nums_ < 2 || lower_order_second)
      order = 2;
    lower_order_nums_ = std::min(lower_order_nums_ + 1, config_.solver_order);
    return update(order, index, sample, fresh);
  }

  Tensor add_noise_impl(const Tensor& original, const Tensor& noise, int index) const override {
    const AlphaSigma t = vp_alpha_sigma(sigmas_[size_t(index)]);
    return Update().add(original, t.alpha).add(noise, t.sigma).eval();
  }

 private:
  double lambda_t(int t) const {
    const float ac = float(schedule_.alphas_cumprod[size_t(t)]);
    return std::log(std::sqrt(ac)) - std::log(std::sqrt(1.0f - ac));
  }

  const Update& m(int k) const { return model_outputs_[model_outputs_.size() - 1 - size_t(k)]; }  // m(0): newest

  Tensor update(int order, int index, const Tensor& sample, const Tensor& fresh) const {
    const bool sde = stochastic();
    const double sigma_next = sigmas_[size_t(index) + 1];
    if (sigma_next == 0) return Update(m(0)).eval();  // h = inf: every order lands on x0
    const AlphaSigma t = vp_alpha_sigma(sigma_next), s0 = vp_alpha_sigma(sigmas_[size_t(index)]);
    const double h = lambda_of(sigma_next) - lambda_of(sigmas_[size_t(index)]);
    const double e1 = std::exp(-h), e2 = std::exp(-2 * h);

    // x_t = A x + B D0 + C D1 + E D2 (+ noise term), per solver (Lu et al. 2022, DPM-Solver++ eqs.; SDE variant).
    const double A = sde ? t.sigma / s0.sigma * e1 : t.sigma / s0.sigma;
    const double B = sde ? t.alpha * (1 - e2) : -t.alpha * (e1 - 1);
    Update out;
    out.add(sample, A).add(m(0), B);
    if (sde) out.add(fresh, t.sigma * std::sqrt(1 - e2));
    if (order == 1) return out.eval();

    const double h0 = lambda_of(sigmas_[size_t(index)]) - lambda_of(sigmas_[size_t(index) - 1]);
    const double r0 = h0 / h;
    Update d1_0;  // (m0 - m1) / r0
    d1_0.add(m(0), 1 / r0).add(m(1), -1 / r0);
    if (order == 2) {
      double C;
      if (config_.solver_type == DpmSolverType::Midpoint)
        C = sde ? 0.5 * t.alpha * (1 - e2) : -0.5 * t.alpha * (e1 - 1);
      else
        C = sde ? t.alpha * ((1 - e2) / (-2 * h) + 1) : t.alpha * ((e1 - 1) / h + 1);
      return out.add(d1_0, C).eval();
    }

    const double h1 = lambda_of(sigmas_[size_t(index) - 1]) - lambda_of(sigmas_[size_t(index) - 2]);
    const double r1 = h1 / h;
    Update d1_1;  // (m1 - m2) / r1
    d1_1.add(m(1), 1 / r1).add(m(2), -1 / r1);
    const double C = sde ? t.alpha * ((1 - e2) / (-2 * h) + 1) : t.alpha * ((e1 - 1) / h + 1);
    const double E = sde ? t.alpha * ((1 - e2 - 2 * h) / (4 * h * h) - 0.5) : -t.alpha * ((e1 - 1 + h) / (h * h) - 0.5);
    // D1 = D1_0 + r0 / (r0 + r1) (D1_0 - D1_1);  D2 = (D1_0 - D1_1) / (r0 + r1)
    const double w = r0 / (r0 + r1), v = 1 / (r0 + r1);
    return out.add(d1_0, C * (1 + w) + E * v).add(d1_1, -C * w - E * v).eval();
  }

  NoiseSchedule schedule_;
  std::vector<double> train_sigmas_, log_sigmas_;
  std::deque<Update> model_outputs_;  // x0 predictions, oldest first, at most solver_order
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_solver_multistep(const SchedulerConfig& config) {
  return std::make_unique<DPMSolverMultistepScheduler>(config);
}

}  // namespace sdpp::schedulers
