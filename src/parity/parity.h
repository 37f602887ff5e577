// The fixture parity runner behind `sdpp parity`: runs every case of a manifest (../shared/fixtures/README.md) of
// the kinds this build covers and compares each output with the manifest's tolerance.
// One file per kind (src/parity/<kind>.cpp) implements a CaseRunner; kinds.cpp maps kind names to them.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "io/checkpoint.h"

namespace sdpp::parity {

struct Options {
  std::filesystem::path fixtures;  // folder holding manifest.json
  std::string filter;              // ECMAScript regex on case names; empty = all
  Device device = Device::cpu();
  DType dtype = DType::F32;
  // Extra tolerance for reduced-precision runs (f16/bf16 on cuda): rel L2 bound used instead of the manifest's
  // when larger. 0 = manifest tolerances only.
  double min_rel_l2 = 0.0;
  // Which loadings of a model with a single-file checkpoint to run: the diffusers folder, the single file, or both.
  bool folder = true;
  bool single_file = true;
  // 8-bit image check for reduced-precision runs: pass when at most `png_outlier_fraction` of the channel values
  // differ by more than `png_tol` (issue 4's f16 bar: 4/255 on 99% of pixels). png_tol < 0 = the manifest's
  // tol_png_max_abs on every value.
  int png_tol = -1;
  double png_outlier_fraction = 0.0;
};

struct Check {
  std::string name;    // "out", "image", "out[single_file]"...
  double error = 0;
  double tolerance = 0;
  std::string metric;  // "rel_l2" | "max_abs" | "png_max_abs"
  bool pass = false;
};

struct CaseContext {
  const Options& options;
  const nlohmann::json& manifest;
  const nlohmann::json& spec;  // this case's manifest entry
  std::filesystem::path dir;   // the manifest's folder

  std::filesystem::path resolve(const std::string& relative) const;  // "@clip-vocab" -> dir/../clip-vocab
  std::map<std::string, Tensor> load_case_tensors() const;            // the case `file`, on the cpu as stored
  // Opens (once per runner) the manifest model `name`; `single_file` picks its single-file checkpoint.
  const Checkpoint& checkpoint(const std::string& name, bool single_file) const;
  // The model variants a case should be run on: the folder, plus the single file where the manifest lists one.
  std::vector<bool> variants(const std::string& model) const;

  // Compares with the case tolerance (tol_rel_l2, else tol_abs), honouring Options::min_rel_l2.
  Check compare(const std::string& name, const Tensor& actual, const Tensor& expected) const;

  std::shared_ptr<std::map<std::string, Checkpoint>> cache;
};

using CaseRunner = std::function<std::vector<Check>(const CaseContext&)>;
const std::map<std::string, CaseRunner>& case_runners();  // kind -> runner (kinds.cpp)

double rel_l2(const Tensor& actual, const Tensor& expected);  // ||a-e|| / ||e||, shapes must match (else inf)
double max_abs(const Tensor& actual, const Tensor& expected);

struct Summary {
  int passed = 0, failed = 0, skipped = 0;
};
// Runs the manifest, printing one line per case and the closing "N passed, M failed" line to `out`.
Summary run(const Options& options, std::ostream& out);

}  // namespace sdpp::parity
