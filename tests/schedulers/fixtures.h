// The fixture manifest's scheduler cases, for the scheduler tests (which compare with parity::rel_l2, the distance the
// manifest's tolerances are stated in).
#pragma once
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

}  // namespace sdpp::test
