// Every `scheduler` fixture case: the sampler driven by the stand-in model must reproduce diffusers' timesteps,
// sigmas and whole trajectory within the manifest tolerance.
#include <gtest/gtest.h>

#include "fixtures.h"
#include "io/safetensors.h"
#include "parity/parity.h"
#include "schedulers/stand_in.h"

namespace sdpp::schedulers {
namespace {

class SchedulerCase : public testing::TestWithParam<std::string> {};

TEST_P(SchedulerCase, MatchesDiffusers) {
  const auto& spec = test::case_spec(GetParam());
  auto file = SafetensorsFile::open(test::fixtures_dir() / spec["file"].get<std::string>());
  Shape latent_shape = file->read("samples").shape();
  latent_shape.erase(latent_shape.begin());

  const StandInRun run = run_stand_in_case(spec, latent_shape, Device::cpu());
  const auto actual = run.tensors();
  const double tol = spec["tol_rel_l2"].get<double>();
  for (const auto& output : spec["outputs"]) {
    const std::string name = output.get<std::string>();
    const Tensor expected = file->read(name);
    ASSERT_TRUE(actual.count(name)) << name;
    ASSERT_EQ(actual.at(name).shape(), expected.shape()) << name;
    EXPECT_LE(parity::rel_l2(actual.at(name), expected), tol) << name;
  }
  EXPECT_NEAR(run.init_noise_sigma, spec["init_noise_sigma"].get<double>(),
              1e-6 * spec["init_noise_sigma"].get<double>());
}

// The sampler name with the case's (model-like) config reaches the same class and schedule.
TEST_P(SchedulerCase, NameBuildsTheSameScheduler) {
  const auto& spec = test::case_spec(GetParam());
  auto by_class = make_scheduler(spec["config"], spec["class"].get<std::string>());
  auto by_name = make_scheduler_by_name(spec["scheduler"].get<std::string>(), spec["config"]);
  EXPECT_EQ(by_name->class_name(), spec["class"].get<std::string>());
  const int steps = spec["steps"].get<int>();
  by_class->set_timesteps(steps);
  by_name->set_timesteps(steps);
  EXPECT_EQ(by_name->timesteps(), by_class->timesteps());
  EXPECT_EQ(by_name->sigmas(), by_class->sigmas());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SchedulerCase, testing::ValuesIn(test::scheduler_case_names()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SchedulerCase);

}  // namespace
}  // namespace sdpp::schedulers
