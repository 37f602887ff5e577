// Every manifest case of kind "unet" (SD 1.5, SD 2.1, SDXL; square and non-square latents; several timesteps), on
// the diffusers folder and, where the manifest lists one, the single-file checkpoint, through the parity runner.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixture_case.h"

namespace sdpp {
namespace {

std::vector<std::string> unet_case_names() {
  std::vector<std::string> names;
  const nlohmann::json& manifest = test::fixture_manifest();
  if (!manifest.contains("cases")) return names;
  for (const nlohmann::json& spec : manifest.at("cases"))
    if (spec.value("kind", std::string()) == "unet") names.push_back(spec.at("name").get<std::string>());
  return names;
}

class UNetParity : public testing::TestWithParam<std::string> {};

TEST_P(UNetParity, MatchesDiffusers) {
  const std::vector<parity::Check> checks = test::expect_case_passes(GetParam(), parity::run_unet_case);
  EXPECT_EQ(checks.size(), test::variant_count(GetParam()));
}

// The fixture set is expected to hold UNet cases for all three families; an empty or partial list is a failure.
TEST(UNetParityCases, CoverEveryFamily) {
  const std::vector<std::string> names = unet_case_names();
  for (const char* family : {"sd15_", "sd21_", "sdxl_"}) {
    bool found = false;
    for (const std::string& name : names) found = found || name.rfind(family, 0) == 0;
    EXPECT_TRUE(found) << "no unet case for " << family;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, UNetParity, testing::ValuesIn(unet_case_names()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(UNetParity);

}  // namespace
}  // namespace sdpp
