#include "schedulers/scheduler_config.h"

#include <functional>
#include <map>

#include "core/error.h"

namespace sdpp::schedulers {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad_value(const std::string& key, const json& value, const std::string& expected) {
  throw Error(ErrorCode::InvalidArgument,
              "scheduler config: `" + key + "` = " + value.dump() + " is not " + expected);
}

[[noreturn]] void unsupported(const SchedulerConfig& c, const std::string& what) {
  throw Error(ErrorCode::Unsupported, "scheduler config: " + c.class_name + " with " + what + " is not supported");
}

bool is_class(const SchedulerConfig& c, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (c.class_name == n) return true;
  return false;
}

template <class Enum>
Enum parse_enum(const std::string& key, const json& value, const std::map<std::string, Enum>& names) {
  if (value.is_string()) {
    auto it = names.find(value.get<std::string>());
    if (it != names.end()) return it->second;
  }
  std::string expected = "one of";
  for (const auto& [name, _] : names) expected += " \"" + name + "\"";
  bad_value(key, value, expected);
}

double get_number(const std::string& key, const json& value) {
  if (!value.is_number()) bad_value(key, value, "a number");
  return value.get<double>();
}

int get_int(const std::string& key, const json& value, int lo, int hi) {
  if (!value.is_number_integer() && !(value.is_number_float() && value.get<double>() == int64_t(value.get<double>())))
    bad_value(key, value, "an integer");
  const double v = value.get<double>();
  if (v < lo || v > hi) bad_value(key, value, "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return int(v);
}

bool get_bool(const std::string& key, const json& value) {
  if (!value.is_boolean()) bad_value(key, value, "a boolean");
  return value.get<bool>();
}

std::string get_string(const std::string& key, const json& value) {
  if (!value.is_string()) bad_value(key, value, "a string");
  return value.get<std::string>();
}

// Keys that select behaviour this build does not implement: accepted only at their inert value.
void check_inert_keys(const SchedulerConfig& c, const json& j) {
  auto truthy = [&](const char* key) { return j.contains(key) && j[key].is_boolean() && j[key].get<bool>(); };
  for (const char* key : {"use_beta_sigmas", "use_lu_lambdas", "use_flow_sigmas", "use_dynamic_shifting"})
    if (truthy(key)) unsupported(c, std::string("`") + key + "`");
  if (j.contains("timestep_type") && j["timestep_type"].is_string() && j["timestep_type"] != "discrete" &&
      is_class(c, {"EulerDiscreteScheduler"}))
    unsupported(c, "timestep_type " + j["timestep_type"].dump());
  if (j.contains("interpolation_type") && j["interpolation_type"].is_string() &&
      j["interpolation_type"] != "linear" && is_class(c, {"EulerDiscreteScheduler"}))
    unsupported(c, "interpolation_type " + j["interpolation_type"].dump());
}

}  // namespace

SchedulerConfig SchedulerConfig::defaults_for(const std::string& class_name) {
  SchedulerConfig c;
  c.class_name = class_name;
  // Defaults of each class's diffusers __init__.
  if (class_name == "DDIMScheduler") {
    c.clip_sample = true;
    c.set_alpha_to_one = true;
    c.timestep_spacing = TimestepSpacing::Leading;
  } else if (class_name == "PNDMScheduler") {
    c.set_alpha_to_one = false;
    c.clip_sample = false;
    c.timestep_spacing = TimestepSpacing::Leading;
  } else if (class_name == "DDPMScheduler") {
    c.clip_sample = true;
    c.timestep_spacing = TimestepSpacing::Leading;
  } else if (class_name == "LCMScheduler") {
    c.beta_start = 0.00085;
    c.beta_end = 0.012;
    c.beta_schedule = BetaSchedule::ScaledLinear;
    c.clip_sample = false;
    c.set_alpha_to_one = true;
    c.timestep_spacing = TimestepSpacing::Leading;
  } else if (class_name == "EulerDiscreteScheduler" || class_name == "EulerAncestralDiscreteScheduler" ||
             class_name == "LMSDiscreteScheduler" || class_name == "DPMSolverMultistepScheduler" ||
             class_name == "UniPCMultistepScheduler") {
    c.clip_sample = false;
    c.timestep_spacing = TimestepSpacing::Linspace;
  } else if (class_name == "HeunDiscreteScheduler" || class_name == "KDPM2DiscreteScheduler" ||
             class_name == "KDPM2AncestralDiscreteScheduler") {
    c.beta_start = 0.00085;
    c.beta_end = 0.012;
    c.clip_sample = false;
    c.timestep_spacing = TimestepSpacing::Linspace;
  } else {
    throw Error(ErrorCode::Unsupported, "scheduler class \"" + class_name + "\" is not supported");
  }
  return c;
}

SchedulerConfig SchedulerConfig::from_json(const json& j, const std::string& class_name) {
  if (!j.is_object()) bad_value("<config>", j, "a JSON object");
  std::string cls = class_name;
  if (cls.empty()) {
    if (!j.contains("_class_name")) throw Error(ErrorCode::InvalidArgument, "scheduler config: `_class_name` is missing");
    cls = get_string("_class_name", j["_class_name"]);
  }
  SchedulerConfig c = defaults_for(cls);
  check_inert_keys(c, j);

  const bool dpm = cls == "DPMSolverMultistepScheduler";
  const bool unipc = cls == "UniPCMultistepScheduler";
  using Setter = std::function<void(const std::string&, const json&)>;
  const std::map<std::string, Setter> setters = {
      {"num_train_timesteps", [&](auto& k, auto& v) { c.num_train_timesteps = get_int(k, v, 1, 1000000); }},
      {"beta_start", [&](auto& k, auto& v) { c.beta_start = get_number(k, v); }},
      {"beta_end", [&](auto& k, auto& v) { c.beta_end = get_number(k, v); }},
      {"beta_schedule",
       [&](auto& k, auto& v) {
         c.beta_schedule = parse_enum<BetaSchedule>(k, v, {{"linear", BetaSchedule::Linear},
                                                           {"scaled_linear", BetaSchedule::ScaledLinear},
                                                           {"squaredcos_cap_v2", BetaSchedule::SquaredCosCapV2},
                                                           {"sigmoid", BetaSchedule::Sigmoid},
                                                           {"exp", BetaSchedule::Exp}});
       }},
      {"trained_betas",
       [&](auto& k, auto& v) {
         if (!v.is_array()) bad_value(k, v, "an array of numbers");
         c.trained_betas.clear();
         for (const auto& b : v) c.trained_betas.push_back(get_number(k, b));
       }},
      {"rescale_betas_zero_snr", [&](auto& k, auto& v) { c.rescale_betas_zero_snr = get_bool(k, v); }},
      {"prediction_type",
       [&](auto& k, auto& v) {
         if (v.is_string() && v == "flow_prediction") unsupported(c, "prediction_type \"flow_prediction\"");
         c.prediction_type = parse_enum<PredictionType>(k, v, {{"epsilon", PredictionType::Epsilon},
                                                               {"v_prediction", PredictionType::VPrediction},
                                                               {"sample", PredictionType::Sample}});
       }},
      {"timestep_spacing",
       [&](auto& k, auto& v) {
         c.timestep_spacing = parse_enum<TimestepSpacing>(k, v, {{"leading", TimestepSpacing::Leading},
                                                                 {"linspace", TimestepSpacing::Linspace},
                                                                 {"trailing", TimestepSpacing::Trailing}});
       }},
      {"steps_offset", [&](auto& k, auto& v) { c.steps_offset = get_int(k, v, 0, 1000000); }},
      {"set_alpha_to_one", [&](auto& k, auto& v) { c.set_alpha_to_one = get_bool(k, v); }},
      {"clip_sample", [&](auto& k, auto& v) { c.clip_sample = get_bool(k, v); }},
      {"clip_sample_range", [&](auto& k, auto& v) { c.clip_sample_range = get_number(k, v); }},
      {"thresholding", [&](auto& k, auto& v) { c.thresholding = get_bool(k, v); }},
      {"dynamic_thresholding_ratio", [&](auto& k, auto& v) { c.dynamic_thresholding_ratio = get_number(k, v); }},
      {"sample_max_value", [&](auto& k, auto& v) { c.sample_max_value = get_number(k, v); }},
      {"use_karras_sigmas", [&](auto& k, auto& v) { c.use_karras_sigmas = get_bool(k, v); }},
      {"use_exponential_sigmas", [&](auto& k, auto& v) { c.use_exponential_sigmas = get_bool(k, v); }},
      {"sigma_min", [&](auto& k, auto& v) { c.sigma_min = get_number(k, v); }},
      {"sigma_max", [&](auto& k, auto& v) { c.sigma_max = get_number(k, v); }},
      {"final_sigmas_type",
       [&](auto& k, auto& v) {
         c.final_sigmas_type =
             parse_enum<FinalSigmas>(k, v, {{"zero", FinalSigmas::Zero}, {"sigma_min", FinalSigmas::SigmaMin}});
       }},
      {"solver_order", [&](auto& k, auto& v) { c.solver_order = get_int(k, v, 1, 3); }},
      {"lower_order_final", [&](auto& k, auto& v) { c.lower_order_final = get_bool(k, v); }},
      {"euler_at_final", [&](auto& k, auto& v) { c.euler_at_final = get_bool(k, v); }},
      {"algorithm_type",
       [&](auto& k, auto& v) {
         if (!dpm) return;
         // diffusers maps "deis" onto dpmsolver++; the first-order-noise "dpmsolver"/"sde-dpmsolver" are deprecated.
         if (v.is_string() && (v == "dpmsolver" || v == "sde-dpmsolver"))
           unsupported(c, "algorithm_type " + v.dump());
         c.algorithm_type = parse_enum<DpmAlgorithm>(k, v, {{"dpmsolver++", DpmAlgorithm::DpmSolverPP},
                                                            {"sde-dpmsolver++", DpmAlgorithm::SdeDpmSolverPP},
                                                            {"deis", DpmAlgorithm::DpmSolverPP}});
       }},
      {"solver_type",
       [&](auto& k, auto& v) {
         // Each class maps the other's solver names onto its default, as diffusers does.
         if (dpm)
           c.solver_type = parse_enum<DpmSolverType>(k, v, {{"midpoint", DpmSolverType::Midpoint},
                                                            {"heun", DpmSolverType::Heun},
                                                            {"logrho", DpmSolverType::Midpoint},
                                                            {"bh1", DpmSolverType::Midpoint},
                                                            {"bh2", DpmSolverType::Midpoint}});
         if (unipc)
           c.unipc_solver_type = parse_enum<UniPcSolverType>(k, v, {{"bh1", UniPcSolverType::Bh1},
                                                                    {"bh2", UniPcSolverType::Bh2},
                                                                    {"midpoint", UniPcSolverType::Bh2},
                                                                    {"heun", UniPcSolverType::Bh2},
                                                                    {"logrho", UniPcSolverType::Bh2}});
       }},
      {"lambda_min_clipped", [&](auto& k, auto& v) { c.lambda_min_clipped = get_number(k, v); }},
      {"predict_x0", [&](auto& k, auto& v) { c.predict_x0 = get_bool(k, v); }},
      {"disable_corrector",
       [&](auto& k, auto& v) {
         if (!v.is_array()) bad_value(k, v, "an array of step indices");
         c.disable_corrector.clear();
         for (const auto& i : v) c.disable_corrector.push_back(get_int(k, i, 0, 1000000));
       }},
      {"skip_prk_steps", [&](auto& k, auto& v) { c.skip_prk_steps = get_bool(k, v); }},
      {"variance_type",
       [&](auto& k, auto& v) {
         if (dpm) unsupported(c, "variance_type " + v.dump());  // learned variance: extra output channels
         if (cls != "DDPMScheduler") return;
         // learned variances need extra model output channels; fixed_large_log takes the sqrt of a log (NaN).
         if (v.is_string() && (v == "learned" || v == "learned_range" || v == "fixed_large_log"))
           unsupported(c, "variance_type " + v.dump());
         c.variance_type = parse_enum<DdpmVariance>(k, v, {{"fixed_small", DdpmVariance::FixedSmall},
                                                          {"fixed_small_log", DdpmVariance::FixedSmallLog},
                                                          {"fixed_large", DdpmVariance::FixedLarge}});
       }},
      {"original_inference_steps", [&](auto& k, auto& v) { c.original_inference_steps = get_int(k, v, 1, 1000000); }},
      {"timestep_scaling", [&](auto& k, auto& v) { c.timestep_scaling = get_number(k, v); }},
      {"eta", [&](auto& k, auto& v) { c.eta = get_number(k, v); }},
  };
  for (const auto& [key, value] : j.items()) {
    if (value.is_null()) continue;  // diffusers writes unset options as null: keep the class default
    auto it = setters.find(key);
    if (it != setters.end()) it->second(key, value);
  }

  if (!(c.beta_start >= 0 && c.beta_end >= 0 && c.beta_start < 1 && c.beta_end < 1))
    throw Error(ErrorCode::InvalidArgument, "scheduler config: beta_start/beta_end must lie in [0, 1), got " +
                                                std::to_string(c.beta_start) + " / " + std::to_string(c.beta_end));
  if (!c.trained_betas.empty() && int(c.trained_betas.size()) != c.num_train_timesteps)
    throw Error(ErrorCode::InvalidArgument, "scheduler config: `trained_betas` has " +
                                                std::to_string(c.trained_betas.size()) + " values, num_train_timesteps is " +
                                                std::to_string(c.num_train_timesteps));
  for (double b : c.trained_betas)
    if (!(b >= 0 && b < 1)) throw Error(ErrorCode::InvalidArgument, "scheduler config: `trained_betas` holds " +
                                                                        std::to_string(b) + ", outside [0, 1)");
  if (c.use_karras_sigmas && c.use_exponential_sigmas)
    throw Error(ErrorCode::InvalidArgument,
                "scheduler config: only one of `use_karras_sigmas`, `use_exponential_sigmas` can be set");
  if (c.thresholding && !(c.dynamic_thresholding_ratio > 0 && c.dynamic_thresholding_ratio <= 1))
    throw Error(ErrorCode::InvalidArgument, "scheduler config: `dynamic_thresholding_ratio` must lie in (0, 1]");
  if (c.thresholding && !(c.sample_max_value > 0))
    throw Error(ErrorCode::InvalidArgument, "scheduler config: `sample_max_value` must be positive");
  if (c.clip_sample && !(c.clip_sample_range >= 0))
    throw Error(ErrorCode::InvalidArgument, "scheduler config: `clip_sample_range` must be non-negative");
  if (c.beta_schedule == BetaSchedule::Sigmoid && cls != "DDPMScheduler")
    unsupported(c, "beta_schedule \"sigmoid\"");
  if (c.beta_schedule == BetaSchedule::Exp && cls != "HeunDiscreteScheduler") unsupported(c, "beta_schedule \"exp\"");
  return c;
}

const char* prediction_type_name(PredictionType type) {
  switch (type) {
    case PredictionType::Epsilon: return "epsilon";
    case PredictionType::VPrediction: return "v_prediction";
    case PredictionType::Sample: return "sample";
  }
  return "?";
}

const char* timestep_spacing_name(TimestepSpacing spacing) {
  switch (spacing) {
    case TimestepSpacing::Leading: return "leading";
    case TimestepSpacing::Linspace: return "linspace";
    case TimestepSpacing::Trailing: return "trailing";
  }
  return "?";
}

}  // namespace sdpp::schedulers
