// Runs one manifest case through its parity runner (src/parity/<kind>.cpp), so the gtests and `sdpp parity` share
// one computation and the manifest's tolerances. Checks every output; sd15/sdxl cases also cover the single file.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "parity/kinds.h"

namespace sdpp::test {

inline std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("SDPP_FIXTURES"); env && *env) return env;
  return SDPP_FIXTURES_DIR;
}

inline const nlohmann::json& fixture_manifest() {
  static const nlohmann::json manifest = [] {
    std::ifstream in(fixtures_dir() / "manifest.json");
    return in ? nlohmann::json::parse(in) : nlohmann::json();
  }();
  return manifest;
}

inline const nlohmann::json* fixture_spec(const std::string& name) {
  const nlohmann::json& manifest = fixture_manifest();
  if (!manifest.contains("cases")) return nullptr;
  for (const nlohmann::json& spec : manifest.at("cases")) {
    if (spec.value("name", std::string()) == name) return &spec;
  }
  return nullptr;
}

// Checkpoints opened once per test binary (the tiny models load in milliseconds, but each test reopening them
// would hide a cache bug in nothing and cost time).
inline std::shared_ptr<std::map<std::string, Checkpoint>> checkpoint_cache() {
  static auto cache = std::make_shared<std::map<std::string, Checkpoint>>();
  return cache;
}

inline parity::Options cpu_f32_options() {
  parity::Options options;
  options.fixtures = fixtures_dir();
  return options;
}

// Runs case `name` with `runner` and expects every check to pass; returns the checks for further assertions.
inline std::vector<parity::Check> expect_case_passes(const std::string& name, const parity::CaseRunner& runner) {
  const nlohmann::json* spec = fixture_spec(name);
  EXPECT_NE(spec, nullptr) << "case '" << name << "' not in " << (fixtures_dir() / "manifest.json");
  if (!spec) return {};
  const parity::Options options = cpu_f32_options();
  const parity::CaseContext context{options, fixture_manifest(), *spec, fixtures_dir(), checkpoint_cache()};
  std::vector<parity::Check> checks = runner(context);
  EXPECT_FALSE(checks.empty()) << name;
  for (const parity::Check& check : checks) {
    EXPECT_TRUE(check.pass) << name << " / " << check.name << ": " << check.metric << " " << check.error
                            << " > tolerance " << check.tolerance;
  }
  return checks;
}

// How many variants (folder, single file) the manifest lists for the case's model.
inline size_t variant_count(const std::string& case_name) {
  const nlohmann::json* spec = fixture_spec(case_name);
  if (!spec) return 0;
  const std::string model = spec->at("model").get<std::string>();
  return fixture_manifest().at("models").at(model).contains("single_file") ? 2 : 1;
}

inline Checkpoint open_fixture_model(const std::string& model) {
  return open_checkpoint(fixtures_dir() / fixture_manifest().at("models").at(model).at("path").get<std::string>());
}

}  // namespace sdpp::test
