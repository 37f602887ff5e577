// Kind `scheduler`: a sampler driven by the stand-in model (schedulers/stand_in.h) against diffusers' trajectory.
#include <cmath>

#include "core/error.h"
#include "parity/kinds.h"
#include "schedulers/stand_in.h"

namespace sdpp::parity {

std::vector<Check> run_scheduler_case(const CaseContext& c) {
  const auto expected = c.load_case_tensors();
  if (!expected.count("samples")) throw Error(ErrorCode::BadFile, "scheduler case without `samples`");
  Shape latent_shape = expected.at("samples").shape();  // [calls + 1, *latents]
  latent_shape.erase(latent_shape.begin());
  const schedulers::StandInRun run = schedulers::run_stand_in_case(c.spec, latent_shape, c.options.device);
  const auto actual = run.tensors();
  std::vector<Check> checks;
  for (const auto& name : c.spec.at("outputs")) {
    const std::string key = name.get<std::string>();
    if (!expected.count(key)) throw Error(ErrorCode::BadFile, "scheduler case lacks output `" + key + "`");
    auto it = actual.find(key);
    checks.push_back(it == actual.end() ? Check{key, INFINITY, 0, "rel_l2", false}
                                        : c.compare(key, it->second, expected.at(key)));
  }
  if (c.spec.contains("init_noise_sigma")) {
    const float want = c.spec["init_noise_sigma"].get<float>(), got = float(run.init_noise_sigma);
    checks.push_back(c.compare("init_noise_sigma", Tensor::from_floats({&got, 1}, {1}),
                               Tensor::from_floats({&want, 1}, {1})));
  }
  return checks;
}

}  // namespace sdpp::parity
