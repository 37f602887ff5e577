#include "schedulers/stand_in.h"

#include <cmath>

#include "backend/ops.h"
#include "core/error.h"

namespace sdpp::schedulers {
namespace {

Tensor stack(const std::vector<Tensor>& items) {
  std::vector<Tensor> rows;
  for (const Tensor& t : items) {
    Shape shape = t.shape();
    shape.insert(shape.begin(), 1);
    rows.push_back(t.reshape(shape));
  }
  return ops::concat(rows, 0);
}

}  // namespace

Tensor stand_in_model(const Tensor& x, double timestep) {
  return ops::scale(ops::activation(x, ops::Activation::Tanh), 0.3f, float(0.05 * std::cos(timestep / 97.0)));
}

StandInRun run_stand_in(Scheduler& scheduler, int steps, const Tensor& noise, Generator* step_noise) {
  scheduler.set_timesteps(steps);
  StandInRun run;
  run.timesteps = scheduler.timesteps();
  run.sigmas = scheduler.sigmas();
  run.init_noise_sigma = scheduler.init_noise_sigma();
  Tensor latents = ops::scale(noise, float(run.init_noise_sigma));
  std::vector<Tensor> samples = {latents}, inputs, outputs;
  for (int i = 0; i < int(run.timesteps.size()); ++i) {
    Tensor input = scheduler.scale_model_input(latents, i);
    Tensor output = stand_in_model(input, run.timesteps[size_t(i)]);
    latents = scheduler.step(output, i, latents, step_noise);
    samples.push_back(latents);
    inputs.push_back(input);
    outputs.push_back(output);
  }
  run.samples = stack(samples);
  run.model_inputs = stack(inputs);
  run.model_outputs = stack(outputs);
  return run;
}

std::map<std::string, Tensor> StandInRun::tensors() const {
  auto vec = [](const std::vector<double>& v) {
    std::vector<float> f(v.begin(), v.end());
    return Tensor::from_floats(f, {int64_t(f.size())});
  };
  std::map<std::string, Tensor> out = {{"timesteps", vec(timesteps)},
                                       {"samples", samples},
                                       {"model_inputs", model_inputs},
                                       {"model_outputs", model_outputs}};
  if (!sigmas.empty()) out["sigmas"] = vec(sigmas);
  return out;
}

StandInRun run_stand_in_case(const nlohmann::json& spec, const Shape& latent_shape, Device device) {
  if (!spec.contains("class") || !spec.contains("config") || !spec.contains("steps"))
    throw Error(ErrorCode::BadFile, "scheduler case needs `class`, `config` and `steps`");
  auto scheduler = make_scheduler(spec.at("config"), spec.at("class").get<std::string>());
  // The fixture generator's seeds: 3 for the initial latents, noise_seed for the steps.
  const Tensor noise = make_cpu_generator(3)->randn(latent_shape, device);
  auto step_noise = make_cpu_generator(spec.value("noise_seed", uint64_t{0}));
  return run_stand_in(*scheduler, spec.at("steps").get<int>(), noise, step_noise.get());
}

}  // namespace sdpp::schedulers
