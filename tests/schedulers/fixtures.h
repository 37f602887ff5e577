// The fixture manifest's scheduler cases, and the relative L2 distance their tolerances are stated in, for the
// scheduler tests.
#pragma once
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "schedulers/python_json.h"
#include "../fixtures_dir.h"

namespace sdpp::test {

// The manifest, or null when the fixtures are absent.
inline const nlohmann::json& manifest() {
  static const nlohmann::json m = [] {
    std::ifstream in(fixtures_dir() / "manifest.json");
    if (!in) return nlohmann::json();
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return schedulers::parse_python_json(text);  // pipeline cases carry diffusers' -Infinity
  }();
  return m;
}

inline std::vector<std::string> scheduler_case_names() {
  std::vector<std::string> names;
  if (manifest().is_null()) return names;
  for (const auto& c : manifest()["cases"])
    if (c.value("kind", "") == "scheduler") names.push_back(c["name"].get<std::string>());
  return names;
}

inline const nlohmann::json& case_spec(const std::string& name) {
  for (const auto& c : manifest()["cases"])
    if (c["name"] == name) return c;
  throw std::runtime_error("no fixture case " + name);
}

// ||actual - expected|| / ||expected|| (||actual - expected|| where expected is all zeros).
inline double rel_l2(const Tensor& actual, const Tensor& expected) {
  const std::vector<float> a = actual.to_floats(), e = expected.to_floats();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (double(a[i]) - e[i]) * (double(a[i]) - e[i]);
    norm += double(e[i]) * e[i];
  }
  return norm == 0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

}  // namespace sdpp::test
