// A diffusers scheduler config (scheduler_config.json) as typed fields.
//
// diffusers' classes disagree on defaults (DDIM spaces timesteps "leading", Euler "linspace"; LCM and Heun start from
// beta 0.00085), so parsing starts from the defaults of the class named in `_class_name` and then applies the keys
// the JSON carries. Every class reads only the fields its diffusers counterpart accepts, which reproduces
// `OtherScheduler.from_config(config)`: keys the target class does not know are ignored.
#pragma once
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdpp::schedulers {

enum class BetaSchedule { Linear, ScaledLinear, SquaredCosCapV2, Sigmoid, Exp };
enum class PredictionType { Epsilon, VPrediction, Sample };
enum class TimestepSpacing { Leading, Linspace, Trailing };
enum class FinalSigmas { Zero, SigmaMin };
enum class DpmAlgorithm { DpmSolverPP, SdeDpmSolverPP };
enum class DpmSolverType { Midpoint, Heun };
enum class UniPcSolverType { Bh1, Bh2 };
enum class DdpmVariance { FixedSmall, FixedSmallLog, FixedLarge };

struct SchedulerConfig {
  std::string class_name;  // "DDIMScheduler", "EulerDiscreteScheduler", ...

  // The training noise schedule.
  int num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::vector<double> trained_betas;  // non-empty overrides beta_schedule
  bool rescale_betas_zero_snr = false;

  PredictionType prediction_type = PredictionType::Epsilon;
  TimestepSpacing timestep_spacing = TimestepSpacing::Leading;
  int steps_offset = 0;

  // DDIM / PNDM / LCM: alpha product used past the last timestep.
  bool set_alpha_to_one = true;
  // Clamping the predicted x0 (DDIM, DDPM, LCM, Heun) and dynamic thresholding (DDIM, DDPM, LCM, DPM, UniPC).
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;

  // Sigma-space schedulers (Euler, Heun, LMS, DPM, UniPC, KDPM2).
  bool use_karras_sigmas = false;
  bool use_exponential_sigmas = false;
  std::optional<double> sigma_min, sigma_max;  // Euler / UniPC only: bounds of the Karras/exponential ramp
  FinalSigmas final_sigmas_type = FinalSigmas::Zero;

  // Multistep solvers.
  int solver_order = 2;
  bool lower_order_final = true;
  bool euler_at_final = false;                               // DPM
  DpmAlgorithm algorithm_type = DpmAlgorithm::DpmSolverPP;    // DPM
  DpmSolverType solver_type = DpmSolverType::Midpoint;       // DPM
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();  // DPM
  UniPcSolverType unipc_solver_type = UniPcSolverType::Bh2;  // UniPC (diffusers key `solver_type`)
  bool predict_x0 = true;                                    // UniPC
  std::vector<int> disable_corrector;                        // UniPC

  bool skip_prk_steps = false;                          // PNDM
  DdpmVariance variance_type = DdpmVariance::FixedSmall;  // DDPM
  int original_inference_steps = 50;                    // LCM
  double timestep_scaling = 10.0;                       // LCM
  // DDIM's `eta` (a pipeline argument in diffusers, kept here so a request can carry it): 0 is deterministic DDIM.
  double eta = 0.0;

  // Class defaults, then the keys of `json` (a diffusers scheduler config). `class_name` overrides `_class_name`
  // when non-empty. Throws InvalidArgument naming the key for a malformed or unknown value, Unsupported for a valid
  // diffusers option this build does not implement.
  static SchedulerConfig from_json(const nlohmann::json& json, const std::string& class_name = "");
  // The defaults of a diffusers class; throws Unsupported for a class we do not implement.
  static SchedulerConfig defaults_for(const std::string& class_name);
};

// Names for messages and JSON round trips.
const char* prediction_type_name(PredictionType type);
const char* timestep_spacing_name(TimestepSpacing spacing);

}  // namespace sdpp::schedulers
