#include "schedulers/scheduler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sdpp::schedulers {

void Scheduler::set_timesteps(int num_inference_steps) {
  if (num_inference_steps < 1 || num_inference_steps > config_.num_train_timesteps)
    throw Error(ErrorCode::InvalidArgument, "steps = " + std::to_string(num_inference_steps) + " must lie in [1, " +
                                                std::to_string(config_.num_train_timesteps) + "] for " + class_name());
  timesteps_.clear();
  sigmas_.clear();
  num_inference_steps_ = num_inference_steps;
  compute_schedule(num_inference_steps);
  if (timesteps_.empty())
    throw Error(ErrorCode::InvalidArgument, class_name() + " has no timesteps for " +
                                                std::to_string(num_inference_steps) + " steps");
  for (double t : timesteps_)
    if (!(t >= 0 && t <= config_.num_train_timesteps - 1))
      throw Error(ErrorCode::InvalidArgument, class_name() + ": timestep " + std::to_string(t) + " for " +
                                                  std::to_string(num_inference_steps) +
                                                  " steps falls outside the trained range");
  begin_index_ = 0;
  next_index_ = 0;
  reset_state();
}

void Scheduler::set_begin_index(int index) {
  if (timesteps_.empty()) throw Error(ErrorCode::InvalidArgument, class_name() + ": set_timesteps() first");
  if (index < 0 || index >= int(timesteps_.size()))
    throw Error(ErrorCode::InvalidArgument, class_name() + ": begin index " + std::to_string(index) + " outside [0, " +
                                                std::to_string(timesteps_.size()) + ")");
  begin_index_ = index;
  next_index_ = index;
  reset_state();
}

int Scheduler::begin_index_for_strength(double strength) {
  if (!(strength >= 0 && strength <= 1))
    throw Error(ErrorCode::InvalidArgument, "strength = " + std::to_string(strength) + " must lie in [0, 1]");
  const int steps = num_inference_steps_;
  const int init_timestep = std::min(int(steps * strength), steps);  // int() truncates, as Python's
  const int t_start = std::max(steps - init_timestep, 0);
  const int begin = t_start * order();
  if (begin >= int(timesteps_.size()))
    throw Error(ErrorCode::InvalidArgument, "strength = " + std::to_string(strength) + " with " +
                                                std::to_string(steps) + " steps leaves no denoising step");
  set_begin_index(begin);
  return begin;
}

void Scheduler::check_index(int step_index, const char* what) const {
  if (timesteps_.empty()) throw Error(ErrorCode::InvalidArgument, class_name() + ": set_timesteps() before " + what);
  if (step_index != next_index_)
    throw Error(ErrorCode::InvalidArgument, class_name() + "::" + what + ": step " + std::to_string(step_index) +
                                                " out of order, expected " + std::to_string(next_index_) + " of " +
                                                std::to_string(timesteps_.size()));
}

Tensor Scheduler::scale_model_input(const Tensor& sample, int step_index) {
  check_index(step_index, "scale_model_input");
  return scale_input(sample, step_index);
}

Tensor Scheduler::step(const Tensor& model_output, int step_index, const Tensor& sample, Generator* noise) {
  return step(Update().add(model_output, 1.0), step_index, sample, noise);
}

Tensor Scheduler::step(const Update& model_output, int step_index, const Tensor& sample, Generator* noise) {
  check_index(step_index, "step");
  if (model_output.terms().empty()) throw Error(ErrorCode::Internal, class_name() + "::step: empty model output");
  for (const Tensor& term : model_output.terms())
    if (term.shape() != sample.shape())
      throw Error(ErrorCode::ShapeMismatch, class_name() + "::step: model output " + shape_str(term.shape()) +
                                                " vs sample " + shape_str(sample.shape()));
  if (stochastic() && noise == nullptr)
    throw Error(ErrorCode::InvalidArgument, class_name() + " draws noise: step() needs a generator");
  Tensor out = step_impl(model_output, step_index, sample, noise);
  ++next_index_;
  return out;
}

Tensor Scheduler::add_noise(const Tensor& original, const Tensor& noise, int step_index) const {
  if (timesteps_.empty()) throw Error(ErrorCode::InvalidArgument, class_name() + ": set_timesteps() before add_noise");
  if (step_index < 0 || step_index >= int(timesteps_.size()))
    throw Error(ErrorCode::InvalidArgument, class_name() + "::add_noise: step " + std::to_string(step_index) +
                                                " outside [0, " + std::to_string(timesteps_.size()) + ")");
  if (original.shape() != noise.shape())
    throw Error(ErrorCode::ShapeMismatch, class_name() + "::add_noise: latents " + shape_str(original.shape()) +
                                              " vs noise " + shape_str(noise.shape()));
  return add_noise_impl(original, noise, step_index);
}

Tensor Scheduler::draw_noise(Generator* generator, const Tensor& like) {
  if (generator == nullptr) throw Error(ErrorCode::Internal, "scheduler noise drawn without a generator");
  return generator->randn(like.shape(), like.device());
}

}  // namespace sdpp::schedulers
