// Runs one manifest case through its parity runner (src/parity/<kind>.cpp), so the gtests and `sdpp parity` share
// one computation and the manifest's tolerances. Checks every output; sd15/sdxl cases also cover the single file.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/tensor_source.h"
#include "parity/kinds.h"
#include "schedulers/python_json.h"
#include "../fixtures_dir.h"

namespace sdpp::test {

inline const nlohmann::json& fixture_manifest() {
  static const nlohmann::json manifest = [] {
    std::ifstream in(fixtures_dir() / "manifest.json");
    if (!in) return nlohmann::json();
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return schedulers::parse_python_json(text);  // the manifest has Python's -Infinity literals
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

// Runs case `name` with `runner` and expects every check to pass, except those named in `known_gaps` (fixture
// defects documented in docs/PARITY.md, each asserted by a test of its own); returns the checks.
inline std::vector<parity::Check> expect_case_passes(const std::string& name, const parity::CaseRunner& runner,
                                                     const std::set<std::string>& known_gaps = {}) {
  const nlohmann::json* spec = fixture_spec(name);
  EXPECT_NE(spec, nullptr) << "case '" << name << "' not in " << (fixtures_dir() / "manifest.json");
  if (!spec) return {};
  const parity::Options options = cpu_f32_options();
  const parity::CaseContext context{options, fixture_manifest(), *spec, fixtures_dir(), checkpoint_cache()};
  std::vector<parity::Check> checks = runner(context);
  EXPECT_FALSE(checks.empty()) << name;
  for (const parity::Check& check : checks) {
    if (known_gaps.count(check.name)) continue;
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

// A TensorSource that records which keys were read: lets a test assert a model consumed every weight of its
// component (a skipped layer would otherwise go unnoticed wherever its absence happens to be numerically small).
class RecordingSource : public TensorSource {
 public:
  explicit RecordingSource(std::shared_ptr<const TensorSource> base) : base_(std::move(base)) {}
  std::vector<std::string> keys() const override { return base_->keys(); }
  std::optional<TensorInfo> info(const std::string& key) const override { return base_->info(key); }
  Tensor read(const std::string& key) const override {
    read_.insert(key);
    return base_->read(key);
  }
  std::string describe() const override { return base_->describe(); }
  // Keys of the source that were never read, minus those starting with one of `ignored_prefixes`.
  std::vector<std::string> unread(const std::vector<std::string>& ignored_prefixes = {}) const {
    std::vector<std::string> out;
    for (const std::string& key : base_->keys()) {
      bool ignored = false;
      for (const std::string& prefix : ignored_prefixes) ignored = ignored || key.rfind(prefix, 0) == 0;
      if (!ignored && !read_.count(key)) out.push_back(key);
    }
    return out;
  }

 private:
  std::shared_ptr<const TensorSource> base_;
  mutable std::set<std::string> read_;
};

inline Checkpoint open_fixture_model(const std::string& model) {
  return open_checkpoint(fixtures_dir() / fixture_manifest().at("models").at(model).at("path").get<std::string>());
}
inline Checkpoint open_fixture_single_file(const std::string& model) {
  return open_checkpoint(fixtures_dir() /
                         fixture_manifest().at("models").at(model).at("single_file").get<std::string>());
}

}  // namespace sdpp::test
