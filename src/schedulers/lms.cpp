// LMSDiscreteScheduler: linear multistep (Adams-Bashforth in sigma) over up to four past derivatives, the
// coefficients being integrals of the Lagrange basis polynomials between consecutive sigmas.
#include <algorithm>
#include <deque>

#include "core/error.h"
#include "schedulers/families.h"
#include "schedulers/prediction.h"
#include "schedulers/sigma_scheduler.h"

namespace sdpp::schedulers {
namespace {

constexpr int kMaxOrder = 4;

class LMSDiscreteScheduler final : public SigmaScheduler {
 public:
  explicit LMSDiscreteScheduler(const SchedulerConfig& config) : SigmaScheduler(config, ZeroSnr::Ignore) {}

 protected:
  void compute_schedule(int steps) override {
    Schedule s = spaced_schedule(steps, {});
    timesteps_ = std::move(s.timesteps);
    sigmas_ = std::move(s.sigmas);
    sigmas_.push_back(0.0);
    for (double& sigma : sigmas_) sigma = f32(sigma);
  }

  void reset_state() override { derivatives_.clear(); }

  Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator*) override {
    const double sigma = sigmas_[size_t(index)];
    Update derivative;  // (x - x0) / sigma
    derivative.add(sample, 1 / sigma).add(sample, model_output, sigma_x0_prediction(config_.prediction_type, sigma),
                                          -1 / sigma);
    derivatives_.push_front(derivative);
    if (derivatives_.size() > kMaxOrder) derivatives_.pop_back();
    // diffusers takes the order from the step index (not the history length) and pairs coefficients with as many
    // derivatives as it has.
    const int order = std::min(index + 1, kMaxOrder);
    Update update;
    update.add(sample, 1.0);
    for (int k = 0; k < order && k < int(derivatives_.size()); ++k)
      update.add(derivatives_[size_t(k)], lms_coefficient(order, index, k));
    return update.eval();
  }

 private:
  // Python indexing: a negative index counts from the end.
  double sigma_at(int i) const { return sigmas_[size_t(i < 0 ? i + int(sigmas_.size()) : i)]; }

  // Integral over [sigma_t, sigma_{t+1}] of the Lagrange basis polynomial of node t - current over nodes t..t-order+1.
  // Degree <= 3, so 4-point Gauss-Legendre is exact (diffusers integrates numerically with scipy's quad).
  double lms_coefficient(int order, int t, int current) const {
    auto basis = [&](double tau) {
      double prod = 1.0;
      for (int k = 0; k < order; ++k) {
        if (k == current) continue;
        prod *= (tau - sigma_at(t - k)) / (sigma_at(t - current) - sigma_at(t - k));
      }
      return prod;
    };
    static constexpr double kNodes[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                                         0.8611363115940526};
    static constexpr double kWeights[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                                           0.3478548451374538};
    const double a = sigma_at(t), b = sigma_at(t + 1);
    const double half = (b - a) / 2, mid = (a + b) / 2;
    double sum = 0;
    for (int i = 0; i < 4; ++i) sum += kWeights[i] * basis(half * kNodes[i] + mid);
    return half * sum;
  }

  std::deque<Update> derivatives_;  // newest first
};

}  // namespace

std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& config) {
  return std::make_unique<LMSDiscreteScheduler>(config);
}

}  // namespace sdpp::schedulers
