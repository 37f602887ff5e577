#include "parity/parity.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <ostream>
#include <regex>

#include "core/error.h"
#include "io/safetensors.h"
#include "schedulers/python_json.h"

namespace sdpp::parity {
namespace {

nlohmann::json read_manifest(const std::filesystem::path& dir) {
  const auto path = dir / "manifest.json";
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::NotFound, "no manifest.json in " + dir.string());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    // Python's json writes -Infinity for some scheduler defaults (lambda_min_clipped).
    nlohmann::json manifest = schedulers::parse_python_json(text);
    if (!manifest.contains("cases") || !manifest["cases"].is_array())
      throw Error(ErrorCode::BadFile, path.string() + ": no \"cases\" array");
    return manifest;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadFile, path.string() + ": " + e.what());
  }
}

std::string format_number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", x);
  return buf;
}

}  // namespace

std::filesystem::path CaseContext::resolve(const std::string& relative) const {
  if (relative == "@clip-vocab") return dir.parent_path() / "clip-vocab";
  return dir / relative;
}

std::map<std::string, Tensor> CaseContext::load_case_tensors() const {
  if (!spec.contains("file")) throw Error(ErrorCode::BadFile, "case '" + spec.value("name", "?") + "' has no file");
  auto file = SafetensorsFile::open(resolve(spec["file"].get<std::string>()));
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, entry] : file->entries()) tensors.emplace(name, file->read(name));
  return tensors;
}

const Checkpoint& CaseContext::checkpoint(const std::string& name, bool single_file) const {
  const std::string key = name + (single_file ? "#single_file" : "");
  auto it = cache->find(key);
  if (it != cache->end()) return it->second;
  const auto& models = manifest.at("models");
  if (!models.contains(name)) throw Error(ErrorCode::NotFound, "manifest has no model '" + name + "'");
  const auto& model = models[name];
  const std::string rel = single_file ? model.at("single_file").get<std::string>() : model.at("path").get<std::string>();
  return cache->emplace(key, open_checkpoint(resolve(rel))).first->second;
}

std::vector<bool> CaseContext::variants(const std::string& model) const {
  const auto& models = manifest.at("models");
  const bool has_single_file = models.contains(model) && models[model].contains("single_file");
  std::vector<bool> result;
  if (options.folder || !has_single_file) result.push_back(false);
  if (options.single_file && has_single_file) result.push_back(true);
  return result;
}

Check CaseContext::compare(const std::string& name, const Tensor& actual, const Tensor& expected) const {
  Check check;
  check.name = name;
  if (spec.contains("tol_rel_l2")) {
    check.metric = "rel_l2";
    check.tolerance = std::max(spec["tol_rel_l2"].get<double>(), options.min_rel_l2);
    check.error = rel_l2(actual, expected);
  } else {
    check.metric = "max_abs";
    check.tolerance = spec.value("tol_abs", 0.0);
    check.error = max_abs(actual, expected);
  }
  check.pass = std::isfinite(check.error) && check.error <= check.tolerance;
  return check;
}

double rel_l2(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape()) return std::numeric_limits<double>::infinity();
  const std::vector<float> a = actual.to_floats(), e = expected.to_floats();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(e[i]);
    diff += d * d;
    norm += double(e[i]) * double(e[i]);
  }
  if (norm == 0) return diff == 0 ? 0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff / norm);
}

double max_abs(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape()) return std::numeric_limits<double>::infinity();
  const std::vector<float> a = actual.to_floats(), e = expected.to_floats();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - double(e[i]));
    if (!(d <= worst)) worst = d;  // NaN propagates as a failure
  }
  return worst;
}

Summary run(const Options& options, std::ostream& out) {
  const nlohmann::json manifest = read_manifest(options.fixtures);
  const std::regex filter(options.filter.empty() ? std::string(".*") : options.filter, std::regex::ECMAScript);
  auto cache = std::make_shared<std::map<std::string, Checkpoint>>();
  Summary summary;
  for (const auto& spec : manifest["cases"]) {
    const std::string name = spec.value("name", "?");
    const std::string kind = spec.value("kind", "?");
    if (!std::regex_search(name, filter)) continue;
    const auto& runners = case_runners();
    auto runner = runners.find(kind);
    if (runner == runners.end()) {
      out << name << "  SKIP (no runner for kind '" << kind << "')\n";
      summary.skipped++;
      continue;
    }
    CaseContext context{options, manifest, spec, options.fixtures, cache};
    const auto start = std::chrono::steady_clock::now();
    std::vector<Check> checks;
    std::string failure;
    try {
      checks = runner->second(context);
      if (checks.empty()) failure = "runner compared nothing";
    } catch (const std::exception& e) {
      failure = e.what();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bool pass = failure.empty();
    std::string detail;
    for (const Check& check : checks) {
      pass = pass && check.pass;
      detail += "  " + check.name + " " + check.metric + "=" + format_number(check.error) + " (tol " +
                format_number(check.tolerance) + ")" + (check.pass ? "" : " FAIL");
    }
    if (!failure.empty()) detail += "  error: " + failure;
    out << name << detail << "  [" << format_number(seconds) << " s]  " << (pass ? "PASS" : "FAIL") << "\n";
    out.flush();
    (pass ? summary.passed : summary.failed)++;
  }
  out << summary.passed << " passed, " << summary.failed << " failed";
  if (summary.skipped) out << ", " << summary.skipped << " skipped";
  out << "\n";
  return summary;
}

}  // namespace sdpp::parity
