// Driving a scheduler with the fixtures' stand-in for the UNet, eps(x, t) = 0.3 tanh(x) + 0.05 cos(t / 97):
// a smooth, t-dependent "model" that exercises every scheduler code path without a network. The scheduler tests
// and `sdpp parity` (scheduler cases) both run samplers through this one loop.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "core/tensor.h"
#include "schedulers/scheduler.h"

namespace sdpp::schedulers {

Tensor stand_in_model(const Tensor& x, double timestep);

struct StandInRun {
  std::vector<double> timesteps;  // every model call's timestep
  std::vector<double> sigmas;     // scheduler.sigmas() (empty for alpha-space schedulers)
  double init_noise_sigma = 1;
  Tensor samples;        // [calls + 1, *noise.shape]: initial latents, then the output of every step
  Tensor model_inputs;   // [calls, *noise.shape]: scale_model_input of each sample
  Tensor model_outputs;  // [calls, *noise.shape]

  // The run under the fixture's output names: timesteps, sigmas (when any), samples, model_inputs, model_outputs.
  std::map<std::string, Tensor> tensors() const;
};

// set_timesteps(steps), latents = noise * init_noise_sigma, then every call as a pipeline makes it, stochastic steps
// drawing from `step_noise`.
StandInRun run_stand_in(Scheduler& scheduler, int steps, const Tensor& noise, Generator* step_noise);

// A manifest `scheduler` case (fields class, config, steps, noise_seed): the scheduler built from the case's
// diffusers config, initial noise randn(latent_shape) from a cpu generator seeded 3 and step noise from one seeded
// noise_seed, as the fixture generator drew them; tensors on `device`.
StandInRun run_stand_in_case(const nlohmann::json& spec, const Shape& latent_shape, Device device);

}  // namespace sdpp::schedulers
