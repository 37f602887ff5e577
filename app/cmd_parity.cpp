// `sdpp parity --fixtures DIR [--filter REGEX] [--device cpu|cuda:N] [--dtype f32|f16|bf16]`: runs a fixture manifest
// and exits non-zero when any case fails.
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "core/error.h"
#include "parity/parity.h"

namespace sdpp {

void add_parity_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("parity", "Check numerical parity against a reference fixture manifest");
  struct Args {
    std::string fixtures, filter, device = "cpu", dtype = "f32";
    double min_rel_l2 = 0;
    std::string variants = "both";
    int png_tol = -1;
    double png_outlier_fraction = 0.0;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--fixtures", args->fixtures, "Folder holding manifest.json")->required();
  cmd->add_option("--filter", args->filter, "Only cases whose name matches this regular expression");
  cmd->add_option("--device", args->device, "cpu | cuda | cuda:N");
  cmd->add_option("--dtype", args->dtype, "Compute dtype: f32 | f16 | bf16");
  cmd->add_option("--min-rel-l2", args->min_rel_l2,
                  "Relative L2 bound used where it is looser than the manifest's (reduced-precision runs)");
  cmd->add_option("--variants", args->variants,
                  "Models with a single-file checkpoint: load the folder, the single file, or both")
      ->check(CLI::IsMember({"folder", "single_file", "both"}));
  cmd->add_option("--png-tol", args->png_tol,
                  "8-bit image check: largest per-value difference allowed for all but --png-outlier-fraction of the values "
                  "(default: the manifest's tol_png_max_abs on every value)");
  cmd->add_option("--png-outlier-fraction", args->png_outlier_fraction,
                  "Fraction of 8-bit values allowed beyond --png-tol (e.g. 0.01)");
  cmd->callback([args] {
    parity::Options options;
    options.fixtures = args->fixtures;
    options.filter = args->filter;
    options.device = Device::parse(args->device);
    if (!parse_dtype(args->dtype, &options.dtype) ||
        !(options.dtype == DType::F32 || options.dtype == DType::F16 || options.dtype == DType::BF16))
      throw Error(ErrorCode::InvalidArgument, "--dtype must be f32, f16 or bf16, got '" + args->dtype + "'");
    options.min_rel_l2 = args->min_rel_l2;
    options.png_tol = args->png_tol;
    options.png_outlier_fraction = args->png_outlier_fraction;
    options.folder = args->variants != "single_file";
    options.single_file = args->variants != "folder";
    const parity::Summary summary = parity::run(options, std::cout);
    if (summary.failed > 0) throw CLI::RuntimeError(1);
  });
}

}  // namespace sdpp
