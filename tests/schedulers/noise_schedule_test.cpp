// Beta schedules, timestep spacings and sigma helpers against values diffusers/numpy produce.
#include <gtest/gtest.h>

#include <cmath>

#include "schedulers/noise_schedule.h"

namespace sdpp::schedulers {
namespace {

SchedulerConfig sd_config(const std::string& cls = "EulerDiscreteScheduler") {
  SchedulerConfig c = SchedulerConfig::defaults_for(cls);
  c.beta_start = 0.00085;
  c.beta_end = 0.012;
  c.beta_schedule = BetaSchedule::ScaledLinear;
  return c;
}

TEST(NoiseSchedule, LinearBetasSpanStartToEnd) {
  SchedulerConfig c = SchedulerConfig::defaults_for("DDIMScheduler");
  const NoiseSchedule s = make_noise_schedule(c, ZeroSnr::Rescale);
  ASSERT_EQ(s.betas.size(), 1000u);
  EXPECT_EQ(s.betas.front(), double(0.0001f));
  EXPECT_EQ(s.betas.back(), double(0.02f));
  EXPECT_NEAR(s.betas[500], 0.0001 + 500 * (0.02 - 0.0001) / 999, 1e-8);
}

TEST(NoiseSchedule, ScaledLinearMatchesStableDiffusion) {
  const NoiseSchedule s = make_noise_schedule(sd_config(), ZeroSnr::RescaleClamped);
  EXPECT_NEAR(s.betas.front(), 0.00085, 1e-9);
  EXPECT_NEAR(s.betas.back(), 0.012, 1e-9);
  for (size_t i = 1; i < s.alphas_cumprod.size(); ++i) ASSERT_LT(s.alphas_cumprod[i], s.alphas_cumprod[i - 1]);
  // SD's largest training sigma, as diffusers' fixtures record it (float32).
  const std::vector<double> sigmas = sigmas_from_alphas_cumprod(s.alphas_cumprod);
  EXPECT_EQ(float(sigmas.back()), 14.614646911621094f);
  EXPECT_NEAR(sigmas.front(), 0.0292, 1e-4);
}

TEST(NoiseSchedule, SquaredCosineIsCappedAtMaxBeta) {
  SchedulerConfig c = SchedulerConfig::defaults_for("DDPMScheduler");
  c.beta_schedule = BetaSchedule::SquaredCosCapV2;
  const NoiseSchedule s = make_noise_schedule(c, ZeroSnr::Rescale);
  auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
  EXPECT_NEAR(s.betas[0], 1 - alpha_bar(0.001) / alpha_bar(0), 1e-9);
  EXPECT_EQ(s.betas.back(), double(0.999f));
  for (double b : s.betas) ASSERT_LE(b, double(0.999f));
}

TEST(NoiseSchedule, TrainedBetasAreUsedVerbatim) {
  SchedulerConfig c = SchedulerConfig::defaults_for("DDIMScheduler");
  c.num_train_timesteps = 3;
  c.trained_betas = {0.1, 0.2, 0.3};
  const NoiseSchedule s = make_noise_schedule(c, ZeroSnr::Rescale);
  EXPECT_NEAR(s.alphas_cumprod[2], 0.9 * 0.8 * 0.7, 1e-7);
}

TEST(NoiseSchedule, ZeroTerminalSnr) {
  SchedulerConfig c = sd_config("DDIMScheduler");
  c.rescale_betas_zero_snr = true;
  EXPECT_EQ(make_noise_schedule(c, ZeroSnr::Rescale).alphas_cumprod.back(), 0.0);
  EXPECT_EQ(make_noise_schedule(c, ZeroSnr::RescaleClamped).alphas_cumprod.back(), std::ldexp(1.0, -24));
  EXPECT_GT(make_noise_schedule(c, ZeroSnr::Ignore).alphas_cumprod.back(), 0.004);
  // The first alpha product is kept.
  EXPECT_NEAR(make_noise_schedule(c, ZeroSnr::Rescale).alphas_cumprod.front(), 1 - 0.00085, 1e-6);
}

TEST(TimestepSpacing, OneStepPerSpacing) {
  using V = std::vector<double>;
  EXPECT_EQ(spaced_timesteps(TimestepSpacing::Leading, 1000, 4, 1), (V{751, 501, 251, 1}));
  EXPECT_EQ(spaced_timesteps(TimestepSpacing::Trailing, 1000, 4, 1), (V{999, 749, 499, 249}));
  EXPECT_EQ(spaced_timesteps(TimestepSpacing::Linspace, 1000, 4, 1), (V{999, 666, 333, 0}));
  // Unrounded linspace: Euler keeps the fractions (as float32).
  EXPECT_NEAR(spaced_timesteps(TimestepSpacing::Linspace, 1000, 20, 0)[1], 999 - 999.0 / 19, 1e-9);
  // Trailing with a stride that is not an integer: numpy's arange then round-half-even.
  EXPECT_EQ(spaced_timesteps(TimestepSpacing::Trailing, 1000, 3, 0), (V{999, 666, 332}));
}

TEST(TimestepSpacing, MultistepDropsTheLastOfStepsPlusOne) {
  using V = std::vector<double>;
  EXPECT_EQ(multistep_timesteps(TimestepSpacing::Leading, 1000, 1000, 4, 1), (V{801, 601, 401, 201}));
  EXPECT_EQ(multistep_timesteps(TimestepSpacing::Linspace, 1000, 1000, 4, 1), (V{999, 749, 500, 250}));
  EXPECT_EQ(multistep_timesteps(TimestepSpacing::Trailing, 1000, 1000, 4, 1), (V{999, 749, 499, 249}));
}

TEST(NumpyHelpers, RoundHalfEvenAndArange) {
  EXPECT_EQ(round_half_even(2.5), 2.0);
  EXPECT_EQ(round_half_even(3.5), 4.0);
  EXPECT_EQ(round_half_even(-0.5), -0.0);
  EXPECT_EQ(np_arange(10, 0, -2.5), (std::vector<double>{10, 7.5, 5, 2.5}));
  EXPECT_TRUE(np_arange(0, 10, -1).empty());
  EXPECT_EQ(np_linspace(0, 1, 1), (std::vector<double>{0}));
  EXPECT_EQ(np_linspace(0, 1, 5).back(), 1.0);
  const std::vector<double> fp = {0, 10, 30};
  EXPECT_EQ(np_interp_index(0.5, fp), 5.0);
  EXPECT_EQ(np_interp_index(1.25, fp), 15.0);
  EXPECT_EQ(np_interp_index(7, fp), 30.0);
}

TEST(Sigmas, KarrasRampEndpointsAndSigmaToT) {
  const std::vector<double> k = karras_sigmas(0.03, 14.6, 10);
  ASSERT_EQ(k.size(), 10u);
  EXPECT_NEAR(k.front(), 14.6, 1e-12);
  EXPECT_NEAR(k.back(), 0.03, 1e-12);
  for (size_t i = 1; i < k.size(); ++i) EXPECT_LT(k[i], k[i - 1]);
  const std::vector<double> e = exponential_sigmas(0.03, 14.6, 5);
  EXPECT_NEAR(e[2], std::sqrt(0.03 * 14.6), 1e-12);

  const std::vector<double> log_sigmas = {std::log(1.0), std::log(2.0), std::log(4.0)};
  EXPECT_NEAR(sigma_to_t(2.0, log_sigmas), 1.0, 1e-12);
  EXPECT_NEAR(sigma_to_t(std::sqrt(8.0), log_sigmas), 1.5, 1e-12);  // linear in log sigma
  EXPECT_EQ(sigma_to_t(0.5, log_sigmas), 0.0);                      // clipped below
  EXPECT_EQ(sigma_to_t(9.0, log_sigmas), 2.0);                      // clipped above
}

}  // namespace
}  // namespace sdpp::schedulers
