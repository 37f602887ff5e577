// Samplers: diffusers' schedulers reproduced numerically (maths on the host in double; the per-step tensor update is
// one ops::lincomb on the latents' device).
//
// A pipeline drives one the way diffusers' pipelines do:
//   auto s = make_scheduler_by_name("dpmpp_2m_karras", model_scheduler_config);
//   s->set_timesteps(steps);
//   int first = s->begin_index_for_strength(strength);   // img2img only (diffusers' get_timesteps)
//   latents = img2img ? s->add_noise(init_latents, noise, first) : noise * s->init_noise_sigma();
//   for (int i = first; i < s->timesteps().size(); ++i) {
//     Tensor in = s->scale_model_input(latents, i);
//     Tensor eps = unet(in, s->timesteps()[i]);
//     latents = s->step(eps, i, latents, generator);
//   }
// Two-stage samplers (heun, dpm2) list every model call in timesteps() as diffusers does, so the loop above is the
// same for all of them; order() is 2 for those.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "core/tensor.h"
#include "schedulers/scheduler_config.h"
#include "schedulers/update.h"

namespace sdpp::schedulers {

class Scheduler {
 public:
  explicit Scheduler(SchedulerConfig config) : config_(std::move(config)) {}
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  const SchedulerConfig& config() const { return config_; }
  const std::string& class_name() const { return config_.class_name; }
  // diffusers' `scheduler.order`: model calls per step (2 for heun / dpm2), which img2img's timestep slicing uses.
  virtual int order() const { return 1; }
  // Whether step() draws noise (then it needs a Generator).
  virtual bool stochastic() const { return false; }

  // Computes the schedule for `num_inference_steps` (1..num_train_timesteps) and resets all stepping state.
  void set_timesteps(int num_inference_steps);
  int num_inference_steps() const { return num_inference_steps_; }
  // The timestep of every model call, in order (float32 or integer values as diffusers has them).
  const std::vector<double>& timesteps() const { return timesteps_; }
  // diffusers' `scheduler.sigmas` (sigma-space schedulers; empty for DDIM/DDPM/PNDM/LCM).
  const std::vector<double>& sigmas() const { return sigmas_; }
  // Scale of the initial noise (txt2img latents = randn * init_noise_sigma()).
  virtual double init_noise_sigma() const { return 1.0; }

  // img2img: start at timesteps()[index] instead of 0 (diffusers' set_begin_index). Resets stepping state.
  void set_begin_index(int index);
  int begin_index() const { return begin_index_; }
  // diffusers' get_timesteps(steps, strength): init = min(int(steps * strength), steps); start = steps - init;
  // sets the begin index to start * order() and returns it. Throws InvalidArgument unless 0 <= strength <= 1.
  int begin_index_for_strength(double strength);

  // The model input for call `step_index` (must be the next call: begin index, then +1 per step()).
  Tensor scale_model_input(const Tensor& sample, int step_index);
  // One sampler update from the model's output at call `step_index`; returns the next latents. `noise` must be
  // non-null when stochastic(). Calls must come in order; throws InvalidArgument otherwise.
  Tensor step(const Tensor& model_output, int step_index, const Tensor& sample, Generator* noise);
  // The same with the model output given as a weighted sum of tensors of the sample's shape (classifier-free
  // guidance's uncond and text halves), folded into the step's own update instead of combined first. Schedulers
  // keep it as given in their history, so later steps' sums hold its terms too.
  Tensor step(const Update& model_output, int step_index, const Tensor& sample, Generator* noise);
  // Noised latents at timesteps()[step_index] (img2img's starting point).
  Tensor add_noise(const Tensor& original, const Tensor& noise, int step_index) const;

 protected:
  // Fill timesteps_ / sigmas_ for `steps` and reset the family's state.
  virtual void compute_schedule(int steps) = 0;
  virtual void reset_state() {}
  virtual Tensor scale_input(const Tensor& sample, int index) { (void)index; return sample; }
  virtual Tensor step_impl(const Update& model_output, int index, const Tensor& sample, Generator* noise) = 0;
  virtual Tensor add_noise_impl(const Tensor& original, const Tensor& noise, int index) const = 0;

  // torch.randn(like.shape, generator) placed on like's device.
  static Tensor draw_noise(Generator* generator, const Tensor& like);

  SchedulerConfig config_;
  std::vector<double> timesteps_;
  std::vector<double> sigmas_;
  int num_inference_steps_ = 0;

 private:
  void check_index(int step_index, const char* what) const;
  int begin_index_ = 0;
  int next_index_ = 0;
};

// A scheduler from a diffusers scheduler config; the class comes from `_class_name`, or `class_name` when given.
std::unique_ptr<Scheduler> make_scheduler(const nlohmann::json& diffusers_config, const std::string& class_name = "");
std::unique_ptr<Scheduler> make_scheduler(const SchedulerConfig& config);

// A named sampler (`ddim`, `euler_a`, ... or an AUTOMATIC1111 display name such as "DPM++ 2M Karras"; case-insensitive)
// built on a model's scheduler config, as diffusers' `Class.from_config(base_config, **overrides)`.
// Throws InvalidArgument naming the sampler and listing the known ones.
std::unique_ptr<Scheduler> make_scheduler_by_name(const std::string& name, const nlohmann::json& base_config);

struct SamplerInfo {
  std::string name;                  // "dpmpp_2m_karras"
  std::vector<std::string> aliases;  // {"DPM++ 2M Karras"}
  std::string class_name;            // "DPMSolverMultistepScheduler"
  nlohmann::json overrides;          // config keys set on top of the base config, e.g. {"use_karras_sigmas": true}
};
const std::vector<SamplerInfo>& list_samplers();
// The sampler a name or alias refers to; nullptr when unknown.
const SamplerInfo* find_sampler(const std::string& name_or_alias);

}  // namespace sdpp::schedulers
