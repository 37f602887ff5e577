// UniPCMultistepScheduler (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework"): each step first
// corrects the current sample with the new model output (UniC), then predicts the next one (UniP).
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

double lambda_of(double sigma) { return -std::log(sigma); }  // log(alpha_t) - log(sigma_t)

// Solves the small dense system a x = b (Gaussian elimination with partial pivoting).
std::vector<double> solve(std::vector<std::vector<double>> a, std::vector<double> b) {
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
    std::swap(a[c], a[pivot]);
    std::swap(b[c], b[pivot]);
    if (a[c][c] == 0) throw Error(ErrorCode::Internal, "UniPC: singular coefficient system");
    for (size_t r = c + 1; r < n; ++r) {
      const double f = a[r][c] / a[c][c];
      for (size_t k = c; k < n; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n);
  for (size_t c = n; c-- > 0;) {
    double s = b[c];
    for (size_t k = c + 1; k < n; ++k) s -= a[c][k] * x[k];
    x[c] = s / a[c][c];
  }
  return x;
}

class UniPCMultistepScheduler final : public Scheduler {
 public:
  explicit UniPCMultistepScheduler(const SchedulerConfig& config)
      : Scheduler(config),
        schedule_(make_noise_schedule(config_, ZeroSnr::RescaleClamped)),
        train_sigmas_(sigmas_from_alphas_cumprod(schedule_.alphas_cumprod)),
        log_sigmas_(log_sigmas_f32(train_sigmas_)) {}

 protected:
  void compute_schedule(int steps) override {
    const int T = config_.num_train_timesteps;
    timesteps_ = multistep_timesteps(config_.timestep_spacing, T, T, steps, config_.steps_offset);
    std::vector<double> sig;
    double sigma_last = 0;
    if (config_.use_karras_sigmas || config_.use_exponential_sigmas) {
      const double lo = config_.sigma_min ? *config_.sigma_min : train_sigmas_.front();
      const double hi = config_.sigma_max ? *config_.sigma_max : train_sigmas_.back();
      sig = config_.use_karras_sigmas ? karras_sigmas(lo, hi, steps) : exponential_sigmas(lo, hi, steps);
      timesteps_.clear();
      for (double s : sig) {
        const double t = sigma_to_t(s, log_sigmas_);
        timesteps_.push_back(std::trunc(config_.use_karras_sigmas ? round_half_even(t) : t));  // int64
      }
      if (config_.final_sigmas_type == FinalSigmas::SigmaMin) sigma_last = sig.back();
    } else {
      for (double t : timesteps_) sig.push_back(np_interp_index(t, train_sigmas_));
      if (config_.final_sigmas_type == FinalSigmas::SigmaMin) sigma_last = train_sigmas_.front();
    }
    sig.push_back(sigma_last);
    for (double s : sig) sigmas_.push_back(f32(s));
  }

  void reset_state() override {
    model_outputs_.clear();
    lower_order_nums_ = 0;
    this_order_ = 0;
    last_sample_ = Tensor();
  }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator*) override {
    const int n = int(timesteps_.size());
    const bool use_corrector = index > 0 && last_sample_.defined() &&
                               std::find(config_.disable_corrector.begin(), config_.disable_corrector.end(),
                                         index - 1) == config_.disable_corrector.end();
    // The converted output uses the uncorrected sample.
    const Update converted = convert(model_output, sample, index);
    Tensor x = sample;
    if (use_corrector) x = corrector(converted, index);

    model_outputs_.push_back(converted);
    if (int(model_outputs_.size()) > config_.solver_order) model_outputs_.pop_front();
    const int order = config_.lower_order_final ? std::min(config_.solver_order, n - index) : config_.solver_order;
    this_order_ = std::min(order, lower_order_nums_ + 1);
    last_sample_ = x;
    Tensor out = predictor(x, index, this_order_);
    lower_order_nums_ = std::min(lower_order_nums_ + 1, config_.solver_order);
    return out;
  }

  Tensor add_noise_impl(const Tensor& original, const Tensor& noise, int index) const override {
    const AlphaSigma t = vp_alpha_sigma(sigmas_[size_t(index)]);
    return Update().add(original, t.alpha).add(noise, t.sigma).eval();
  }

 private:
  // x0 (predict_x0) or epsilon from the model output at sigmas[index].
  Update convert(const Update& model_output, const Tensor& sample, int index) const {
    const AlphaSigma s = vp_alpha_sigma(sigmas_[size_t(index)]);
    Update out;
    if (config_.predict_x0) {
      out.add(sample, model_output, vp_x0_prediction(config_.prediction_type, s.alpha, s.sigma));
      if (clips_x0(config_, kClipping)) out = Update().add(clip_x0(config_, kClipping, out.eval()), 1.0);
      return out;
    }
    switch (config_.prediction_type) {
      case PredictionType::Epsilon: return out.add(model_output, 1.0);
      case PredictionType::Sample: return out.add(sample, 1 / s.sigma).add(model_output, -s.alpha / s.sigma);
      case PredictionType::VPrediction: return out.add(model_output, s.alpha).add(sample, s.sigma);
    }
    return out;
  }

  const Update& m(int k) const { return model_outputs_[model_outputs_.size() - 1 - size_t(k)]; }  // m(0): newest

  // The B(h) coefficient system shared by UniP and UniC: rks (the last one 1), R[i][k] = rks[k]^i, and b.
  struct BhSystem {
    double hh, h_phi_1, B_h;
    std::vector<double> rks;
    std::vector<std::vector<double>> R;
    std::vector<double> b;
  };
  BhSystem bh_system(double h, std::vector<double> rks, int order) const {
    BhSystem s;
    s.hh = config_.predict_x0 ? -h : h;
    s.h_phi_1 = std::expm1(s.hh);
    s.B_h = config_.unipc_solver_type == UniPcSolverType::Bh1 ? s.hh : std::expm1(s.hh);
    rks.push_back(1.0);
    s.rks = rks;
    double h_phi_k = s.h_phi_1 / s.hh - 1;
    double factorial = 1;
    for (int i = 1; i <= order; ++i) {
      std::vector<double> row;
      for (double r : rks) row.push_back(std::pow(r, i - 1));
      s.R.push_back(row);
      s.b.push_back(h_phi_k * factorial / s.B_h);
      factorial *= i + 1;
      h_phi_k = h_phi_k / s.hh - 1 / factorial;
    }
    return s;
  }

  // x_t_ = sigma_t / sigma_s0 x - alpha_t h_phi_1 m0 (data prediction) or alpha_t / alpha_s0 x - sigma_t h_phi_1 m0.
  void add_base(Update& out, const Tensor& x, const AlphaSigma& t, const AlphaSigma& s0, const BhSystem& sys,
                const Update& m0) const {
    if (config_.predict_x0)
      out.add(x, t.sigma / s0.sigma).add(m0, -t.alpha * sys.h_phi_1);
    else
      out.add(x, t.alpha / s0.alpha).add(m0, -t.sigma * sys.h_phi_1);
  }
  double residual_scale(const AlphaSigma& t, const BhSystem& sys) const {
    return (config_.predict_x0 ? t.alpha : t.sigma) * sys.B_h;
  }

  // UniP: from sigmas[index] to sigmas[index + 1] using model_outputs_ (m0 = this step's).
  Tensor predictor(const Tensor& x, int index, int order) const {
    const double sigma_next = sigmas_[size_t(index) + 1], sigma_cur = sigmas_[size_t(index)];
    const AlphaSigma t = vp_alpha_sigma(sigma_next), s0 = vp_alpha_sigma(sigma_cur);
    if (sigma_next == 0) {
      // h = inf. The data-prediction update lands on x0; diffusers' noise-prediction update (and any order > 1)
      // evaluates 0 * inf = NaN there, so take the limit, the first-order x0 estimate, instead.
      if (config_.predict_x0) return Update(m(0)).eval();
      return Update().add(x, 1 / s0.alpha).add(m(0), -s0.sigma / s0.alpha).eval();
    }
    const double h = lambda_of(sigma_next) - lambda_of(sigma_cur);
    std::vector<double> rks;
    std::vector<Update> d1s;  // (m_k - m0) / r_k
    for (int k = 1; k < order; ++k) {
      const double rk = (lambda_of(sigmas_[size_t(index - k)]) - lambda_of(sigma_cur)) / h;
      rks.push_back(rk);
      d1s.push_back(Update().add(m(k), 1 / rk).add(m(0), -1 / rk));
    }
    const BhSystem sys = bh_system(h, rks, order);
    Update out;
    add_base(out, x, t, s0, sys, m(0));
    if (!d1s.empty()) {
      std::vector<double> rhos;
      if (order == 2) {
        rhos = {0.5};
      } else {
        std::vector<std::vector<double>> r(size_t(order) - 1);
        for (int i = 0; i + 1 < order; ++i) r[size_t(i)].assign(sys.R[size_t(i)].begin(), sys.R[size_t(i)].end() - 1);
        rhos = solve(r, std::vector<double>(sys.b.begin(), sys.b.end() - 1));
      }
      for (size_t k = 0; k < d1s.size(); ++k) out.add(d1s[k], -residual_scale(t, sys) * rhos[k]);
    }
    return out.eval();
  }

  // UniC: recomputes the step sigmas[index - 1] -> sigmas[index] from last_sample_ with this call's output
  // `model_t`, before model_outputs_ takes it (m0 is the previous call's output).
  Tensor corrector(const Update& model_t, int index) const {
    const int order = this_order_;
    const double sigma_cur = sigmas_[size_t(index)], sigma_prev = sigmas_[size_t(index) - 1];
    const AlphaSigma t = vp_alpha_sigma(sigma_cur), s0 = vp_alpha_sigma(sigma_prev);
    const double h = lambda_of(sigma_cur) - lambda_of(sigma_prev);
    std::vector<double> rks;
    std::vector<Update> d1s;
    for (int k = 1; k < order; ++k) {
      const double rk = (lambda_of(sigmas_[size_t(index - k - 1)]) - lambda_of(sigma_prev)) / h;
      rks.push_back(rk);
      d1s.push_back(Update().add(m(k), 1 / rk).add(m(0), -1 / rk));
    }
    const BhSystem sys = bh_system(h, rks, order);
    const std::vector<double> rhos = order == 1 ? std::vector<double>{0.5} : solve(sys.R, sys.b);
    Update out;
    add_base(out, last_sample_, t, s0, sys, m(0));
    const double scale = residual_scale(t, sys);
    for (size_t k = 0; k < d1s.size(); ++k) out.add(d1s[k], -scale * rhos[k]);
    // D1_t = model_t - m0
    out.add(model_t, -scale * rhos.back()).add(m(0), scale * rhos.back());
    return out.eval();
  }

  NoiseSchedule schedule_;
  std::vector<double> train_sigmas_, log_sigmas_;
  std::deque<Update> model_outputs_;  // converted outputs, oldest first, at most solver_order
  int lower_order_nums_ = 0;
  int this_order_ = 0;  // the predictor order of the previous step, which the corrector reuses
  Tensor last_sample_;  // the (corrected) sample the previous predictor started from
};

}  // namespace

std::unique_ptr<Scheduler> make_unipc_multistep(const SchedulerConfig& config) {
  return std::make_unique<UniPCMultistepScheduler>(config);
}

}  // namespace sdpp::schedulers
