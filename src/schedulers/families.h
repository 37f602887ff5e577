// Constructors of the scheduler families (one .cpp each) for the factory, plus helpers several families share.
#pragma once
#include <cmath>
#include <memory>

#include "schedulers/scheduler.h"
#include "schedulers/update.h"

namespace sdpp::schedulers {

std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_ddpm(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_lcm(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_kdpm2(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_kdpm2_ancestral(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_dpm_solver_multistep(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_unipc_multistep(const SchedulerConfig& config);

// DDPM-style forward noising: sqrt(a) * original + sqrt(1 - a) * noise, a = alphas_cumprod[t].
inline Tensor alpha_add_noise(double alpha_prod, const Tensor& original, const Tensor& noise) {
  return Update().add(original, std::sqrt(alpha_prod)).add(noise, std::sqrt(1 - alpha_prod)).eval();
}

}  // namespace sdpp::schedulers
