// Scheduler construction, naming, call-order checks and img2img entry points.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "backend/ops.h"
#include "parity/parity.h"
#include "schedulers/python_json.h"
#include "schedulers/scheduler.h"
#include "schedulers/stand_in.h"

namespace sdpp::schedulers {
namespace {

// Stable Diffusion 1.5's scheduler_config.json.
nlohmann::json sd15_config() {
  return {{"_class_name", "PNDMScheduler"}, {"beta_start", 0.00085},  {"beta_end", 0.012},
          {"beta_schedule", "scaled_linear"}, {"num_train_timesteps", 1000}, {"set_alpha_to_one", false},
          {"skip_prk_steps", true},           {"steps_offset", 1},      {"clip_sample", false},
          {"trained_betas", nullptr},         {"prediction_type", "epsilon"}};
}

ErrorCode error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::Internal;
}

TEST(SchedulerFactory, EveryNamedSamplerBuildsOnAnSdConfig) {
  ASSERT_EQ(list_samplers().size(), 15u);
  for (const SamplerInfo& info : list_samplers()) {
    auto s = make_scheduler_by_name(info.name, sd15_config());
    EXPECT_EQ(s->class_name(), info.class_name) << info.name;
    s->set_timesteps(10);
    EXPECT_EQ(int(s->timesteps().size()), s->order() == 2 ? 19 : info.name == "pndm" ? 11 : 10) << info.name;
  }
}

TEST(SchedulerFactory, AutomaticNamesAreAliases) {
  for (const char* alias : {"Euler a", "DPM++ 2M Karras", "DPM++ 2M SDE", "UniPC", "DDIM", "PLMS", "LMS", "Heun",
                            "DPM2", "DPM2 a", "Euler", "DDPM", "LCM"})
    EXPECT_NE(find_sampler(alias), nullptr) << alias;
  EXPECT_EQ(find_sampler("euler a")->name, "euler_a");
  EXPECT_EQ(find_sampler("DPM++ 2M Karras")->name, "dpmpp_2m_karras");
  EXPECT_EQ(find_sampler("PLMS")->class_name, "PNDMScheduler");
  EXPECT_EQ(find_sampler("nope"), nullptr);
  EXPECT_EQ(error_of([] { make_scheduler_by_name("nope", sd15_config()); }), ErrorCode::InvalidArgument);
}

TEST(SchedulerFactory, OverridesApplyOnTopOfTheBaseConfig) {
  auto karras = make_scheduler_by_name("dpmpp_2m_karras", sd15_config());
  EXPECT_TRUE(karras->config().use_karras_sigmas);
  EXPECT_EQ(karras->config().steps_offset, 1);  // from the base
  // Class defaults fill what the base config does not say: DPM spaces "linspace", DDIM "leading".
  EXPECT_EQ(karras->config().timestep_spacing, TimestepSpacing::Linspace);
  EXPECT_EQ(make_scheduler_by_name("ddim", sd15_config())->config().timestep_spacing, TimestepSpacing::Leading);
  // A Karras flag in the base config means nothing to a class without the option.
  nlohmann::json base = sd15_config();
  base["use_karras_sigmas"] = true;
  auto euler_a = make_scheduler_by_name("euler_a", base);
  auto plain = make_scheduler_by_name("euler_a", sd15_config());
  euler_a->set_timesteps(8);
  plain->set_timesteps(8);
  EXPECT_EQ(euler_a->sigmas(), plain->sigmas());
}

TEST(SchedulerConfig, RejectsBadValuesNamingTheKey) {
  auto bad = [](nlohmann::json patch) {
    nlohmann::json c = sd15_config();
    c.update(patch);
    return error_of([&] { make_scheduler(c, "EulerDiscreteScheduler"); });
  };
  EXPECT_EQ(bad({{"timestep_spacing", "sideways"}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad({{"beta_schedule", 3}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad({{"num_train_timesteps", -5}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad({{"beta_end", 1.5}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad({{"trained_betas", {0.1, 0.2}}}), ErrorCode::InvalidArgument);
  EXPECT_EQ(bad({{"use_beta_sigmas", true}}), ErrorCode::Unsupported);
  EXPECT_EQ(bad({{"prediction_type", "flow_prediction"}}), ErrorCode::Unsupported);
  EXPECT_EQ(error_of([] { make_scheduler(nlohmann::json::object(), "FlowMatchEulerDiscreteScheduler"); }),
            ErrorCode::Unsupported);
  EXPECT_EQ(error_of([] { make_scheduler(nlohmann::json::object()); }), ErrorCode::InvalidArgument);
  try {
    nlohmann::json c = sd15_config();
    c["timestep_spacing"] = "sideways";
    make_scheduler(c, "DDIMScheduler");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("timestep_spacing"), std::string::npos) << e.what();
  }
}

TEST(SchedulerConfig, ReadsPythonJsonInfinity) {
  const nlohmann::json j = parse_python_json(
      R"({"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "name": "-Infinity x",
          "list": [NaN, Infinity]})");
  EXPECT_TRUE(std::isinf(j["lambda_min_clipped"].get<double>()));
  EXPECT_LT(j["lambda_min_clipped"].get<double>(), 0);
  EXPECT_EQ(j["name"], "-Infinity x");
  EXPECT_TRUE(std::isnan(j["list"][0].get<double>()));
  EXPECT_TRUE(std::isinf(j["list"][1].get<double>()));
  EXPECT_EQ(make_scheduler(j)->config().lambda_min_clipped, -INFINITY);
}

TEST(Scheduler, StepsMustComeInOrder) {
  auto s = make_scheduler_by_name("euler", sd15_config());
  const Tensor x = Tensor::full({1, 4, 2, 2}, 0.5f);
  EXPECT_EQ(error_of([&] { s->step(x, 0, x, nullptr); }), ErrorCode::InvalidArgument);  // no set_timesteps
  s->set_timesteps(5);
  EXPECT_EQ(error_of([&] { s->step(x, 1, x, nullptr); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_of([&] { s->scale_model_input(x, 2); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_of([&] { s->step(Tensor::full({1, 4, 2, 3}, 0.f), 0, x, nullptr); }), ErrorCode::ShapeMismatch);
  s->step(x, 0, x, nullptr);
  s->step(x, 1, x, nullptr);
  EXPECT_EQ(error_of([&] { s->set_timesteps(0); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_of([&] { s->set_timesteps(1001); }), ErrorCode::InvalidArgument);
}

TEST(Scheduler, StochasticSamplersNeedAGenerator) {
  for (const char* name : {"euler_a", "dpmpp_2m_sde", "ddpm", "lcm", "dpm2_a"}) {
    auto s = make_scheduler_by_name(name, sd15_config());
    EXPECT_TRUE(s->stochastic()) << name;
    s->set_timesteps(4);
    const Tensor x = Tensor::full({1, 4, 2, 2}, 0.5f);
    EXPECT_EQ(error_of([&] { s->step(x, 0, x, nullptr); }), ErrorCode::InvalidArgument) << name;
  }
  for (const char* name : {"ddim", "euler", "dpmpp_2m", "unipc", "heun", "lms", "dpm2", "pndm"})
    EXPECT_FALSE(make_scheduler_by_name(name, sd15_config())->stochastic()) << name;
}

TEST(Scheduler, SameSeedSameTrajectory) {
  const Tensor noise = make_cpu_generator(1)->randn({1, 4, 4, 4});
  auto run = [&](uint64_t seed) {
    auto s = make_scheduler_by_name("dpmpp_2m_sde", sd15_config());
    auto g = make_cpu_generator(seed);
    return run_stand_in(*s, 6, noise, g.get()).samples.to_floats();
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

// Classifier-free guidance handed to step() as two weighted halves (the pipeline's form) walks the same trajectory as
// the guided output combined first, for every sampler, with its history of earlier outputs: only the rounding of
// one sum instead of two differs.
TEST(Scheduler, GuidanceAsTwoTermsStepsAsTheCombinedOutput) {
  const double g = 7.5;
  for (const SamplerInfo& info : list_samplers()) {
    SCOPED_TRACE(info.name);
    auto folded = make_scheduler_by_name(info.name, sd15_config());
    auto combined = make_scheduler_by_name(info.name, sd15_config());
    folded->set_timesteps(6);
    combined->set_timesteps(6);
    auto folded_noise = make_cpu_generator(3), combined_noise = make_cpu_generator(3);
    Tensor a = make_cpu_generator(1)->randn({1, 4, 4, 4}), b = a;
    for (int i = 0; i < int(folded->timesteps().size()); ++i) {
      const double t = folded->timesteps()[size_t(i)];
      const Tensor uncond = stand_in_model(folded->scale_model_input(a, i), t);
      const Tensor text = ops::scale(stand_in_model(folded->scale_model_input(a, i), t + 1.0), 1.1f);
      a = folded->step(Update().add(uncond, 1.0 - g).add(text, g), i, a, folded_noise.get());
      const Tensor uncond_b = stand_in_model(combined->scale_model_input(b, i), t);
      const Tensor text_b = ops::scale(stand_in_model(combined->scale_model_input(b, i), t + 1.0), 1.1f);
      const Tensor halves[] = {uncond_b, text_b};
      const double coeffs[] = {1.0 - g, g};
      b = combined->step(ops::lincomb(halves, coeffs), i, b, combined_noise.get());
    }
    const std::vector<float> y = b.to_floats();
    ASSERT_TRUE(std::any_of(y.begin(), y.end(), [](float v) { return v != 0.0f; }));  // a relative distance
    EXPECT_LT(parity::rel_l2(a, b), 1e-5);
  }
}

TEST(Img2Img, StrengthPicksTheBeginIndexAsDiffusers) {
  auto ddim = make_scheduler_by_name("ddim", sd15_config());
  ddim->set_timesteps(10);
  EXPECT_EQ(ddim->begin_index_for_strength(0.5), 5);
  EXPECT_EQ(ddim->begin_index_for_strength(0.75), 3);  // int(7.5) = 7 denoising steps
  EXPECT_EQ(ddim->begin_index_for_strength(1.0), 0);
  EXPECT_EQ(error_of([&] { ddim->begin_index_for_strength(0.05); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(error_of([&] { ddim->begin_index_for_strength(1.5); }), ErrorCode::InvalidArgument);
  auto heun = make_scheduler_by_name("heun", sd15_config());
  heun->set_timesteps(10);
  EXPECT_EQ(heun->begin_index_for_strength(0.5), 10);  // two entries per step
  EXPECT_EQ(heun->timesteps()[10], heun->timesteps()[9]);
}

TEST(Img2Img, AddNoiseUsesTheStartingTimestep) {
  const Tensor x0 = Tensor::full({1, 4, 2, 2}, 1.0f), noise = Tensor::full({1, 4, 2, 2}, 2.0f);
  auto euler = make_scheduler_by_name("euler", sd15_config());
  euler->set_timesteps(10);
  const int begin = euler->begin_index_for_strength(0.6);
  const double sigma = euler->sigmas()[size_t(begin)];
  EXPECT_NEAR(euler->add_noise(x0, noise, begin).to_floats()[0], 1 + 2 * sigma, 1e-5);

  auto ddim = make_scheduler_by_name("ddim", sd15_config());
  ddim->set_timesteps(10);
  const int start = ddim->begin_index_for_strength(0.6);
  // x_t = sqrt(a) x0 + sqrt(1 - a) eps: the two weights are a unit vector, a = alphas_cumprod[401] in (0, 1).
  const Tensor zero = Tensor::zeros({1, 4, 2, 2}), one = Tensor::full({1, 4, 2, 2}, 1.0f);
  const double signal = ddim->add_noise(one, zero, start).to_floats()[0];
  const double noise_weight = ddim->add_noise(zero, one, start).to_floats()[0];
  EXPECT_NEAR(signal * signal + noise_weight * noise_weight, 1.0, 1e-6);
  EXPECT_GT(signal, 0.1);
  EXPECT_LT(signal, 0.9);
  // Stepping from the begin index works; from elsewhere does not.
  EXPECT_EQ(error_of([&] { ddim->step(x0, 0, x0, nullptr); }), ErrorCode::InvalidArgument);
  EXPECT_NO_THROW(ddim->step(x0, start, x0, nullptr));
}

TEST(Pndm, RungeKuttaWarmupWhenPrkStepsAreNotSkipped) {
  nlohmann::json c = sd15_config();
  c["skip_prk_steps"] = false;
  auto s = make_scheduler(c);
  s->set_timesteps(10);
  const std::vector<double> expected = {901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601,
                                        601, 501, 401, 301, 201, 101, 1};
  EXPECT_EQ(s->timesteps(), expected);
  const StandInRun run = run_stand_in(*s, 10, make_cpu_generator(3)->randn({1, 4, 4, 4}), nullptr);
  for (float v : run.samples.to_floats()) ASSERT_TRUE(std::isfinite(v));
}

// Options beyond the fixtures run end to end and stay finite (their formulas follow diffusers line by line).
TEST(Scheduler, OptionVariantsRun) {
  const std::vector<std::pair<std::string, nlohmann::json>> variants = {
      {"DPMSolverMultistepScheduler", {{"solver_order", 3}}},
      {"DPMSolverMultistepScheduler", {{"solver_type", "heun"}, {"algorithm_type", "sde-dpmsolver++"}}},
      {"DPMSolverMultistepScheduler", {{"final_sigmas_type", "sigma_min"}, {"lower_order_final", false}}},
      {"DPMSolverMultistepScheduler", {{"thresholding", true}, {"prediction_type", "sample"}}},
      {"UniPCMultistepScheduler", {{"solver_order", 3}, {"solver_type", "bh1"}}},
      {"UniPCMultistepScheduler", {{"use_karras_sigmas", true}, {"predict_x0", false}}},
      {"EulerDiscreteScheduler", {{"use_exponential_sigmas", true}, {"final_sigmas_type", "sigma_min"}}},
      {"HeunDiscreteScheduler", {{"use_karras_sigmas", true}, {"clip_sample", true}}},
      {"LMSDiscreteScheduler", {{"use_karras_sigmas", true}}},
      {"KDPM2DiscreteScheduler", {{"use_karras_sigmas", true}, {"prediction_type", "v_prediction"}}},
      {"DDIMScheduler", {{"clip_sample", true}, {"eta", 1.0}, {"rescale_betas_zero_snr", true}}},
      {"DDPMScheduler", {{"beta_schedule", "squaredcos_cap_v2"}, {"variance_type", "fixed_large"}}},
      {"LCMScheduler", {{"thresholding", true}}},
  };
  for (const auto& [cls, patch] : variants) {
    nlohmann::json c = sd15_config();
    c.update(patch);
    auto s = make_scheduler(c, cls);
    auto g = make_cpu_generator(11);
    const StandInRun run = run_stand_in(*s, 12, make_cpu_generator(3)->randn({1, 4, 4, 4}), g.get());
    const std::vector<float> values = run.samples.to_floats();
    EXPECT_TRUE(std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); }))
        << cls << " " << patch.dump();
  }
}

}  // namespace
}  // namespace sdpp::schedulers
