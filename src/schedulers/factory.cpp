// make_scheduler (by diffusers class) and the sampler names users pick from.
#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.h"
#include "schedulers/families.h"

namespace sdpp::schedulers {
namespace {

using Maker = std::unique_ptr<Scheduler> (*)(const SchedulerConfig&);

const std::map<std::string, Maker>& makers() {
  static const std::map<std::string, Maker> table = {
      {"DDIMScheduler", make_ddim},
      {"PNDMScheduler", make_pndm},
      {"DDPMScheduler", make_ddpm},
      {"LCMScheduler", make_lcm},
      {"EulerDiscreteScheduler", make_euler},
      {"EulerAncestralDiscreteScheduler", make_euler_ancestral},
      {"HeunDiscreteScheduler", make_heun},
      {"LMSDiscreteScheduler", make_lms},
      {"KDPM2DiscreteScheduler", make_kdpm2},
      {"KDPM2AncestralDiscreteScheduler", make_kdpm2_ancestral},
      {"DPMSolverMultistepScheduler", make_dpm_solver_multistep},
      {"UniPCMultistepScheduler", make_unipc_multistep},
  };
  return table;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

std::unique_ptr<Scheduler> make_scheduler(const SchedulerConfig& config) {
  auto it = makers().find(config.class_name);
  if (it == makers().end())
    throw Error(ErrorCode::Unsupported, "scheduler class \"" + config.class_name + "\" is not supported");
  return it->second(config);
}

std::unique_ptr<Scheduler> make_scheduler(const nlohmann::json& diffusers_config, const std::string& class_name) {
  return make_scheduler(SchedulerConfig::from_json(diffusers_config, class_name));
}

// The names map to a diffusers class plus config overrides, as the fixtures (and diffusers' docs) pair them;
// aliases are AUTOMATIC1111's display names.
const std::vector<SamplerInfo>& list_samplers() {
  static const std::vector<SamplerInfo> samplers = {
      {"ddim", {"DDIM"}, "DDIMScheduler", nlohmann::json::object()},
      {"pndm", {"PLMS", "PNDM"}, "PNDMScheduler", nlohmann::json::object()},
      {"euler", {"Euler"}, "EulerDiscreteScheduler", nlohmann::json::object()},
      {"euler_karras", {"Euler Karras"}, "EulerDiscreteScheduler", {{"use_karras_sigmas", true}}},
      {"euler_a", {"Euler a"}, "EulerAncestralDiscreteScheduler", nlohmann::json::object()},
      {"heun", {"Heun"}, "HeunDiscreteScheduler", nlohmann::json::object()},
      {"lms", {"LMS"}, "LMSDiscreteScheduler", nlohmann::json::object()},
      {"dpmpp_2m", {"DPM++ 2M"}, "DPMSolverMultistepScheduler", nlohmann::json::object()},
      {"dpmpp_2m_karras", {"DPM++ 2M Karras"}, "DPMSolverMultistepScheduler", {{"use_karras_sigmas", true}}},
      {"dpmpp_2m_sde", {"DPM++ 2M SDE"}, "DPMSolverMultistepScheduler", {{"algorithm_type", "sde-dpmsolver++"}}},
      {"unipc", {"UniPC"}, "UniPCMultistepScheduler", nlohmann::json::object()},
      {"ddpm", {"DDPM"}, "DDPMScheduler", nlohmann::json::object()},
      {"lcm", {"LCM"}, "LCMScheduler", nlohmann::json::object()},
      {"dpm2", {"DPM2"}, "KDPM2DiscreteScheduler", nlohmann::json::object()},
      {"dpm2_a", {"DPM2 a"}, "KDPM2AncestralDiscreteScheduler", nlohmann::json::object()},
  };
  return samplers;
}

const SamplerInfo* find_sampler(const std::string& name_or_alias) {
  const std::string key = lower(name_or_alias);
  for (const SamplerInfo& s : list_samplers()) {
    if (lower(s.name) == key) return &s;
    for (const std::string& alias : s.aliases)
      if (lower(alias) == key) return &s;
  }
  return nullptr;
}

std::unique_ptr<Scheduler> make_scheduler_by_name(const std::string& name, const nlohmann::json& base_config) {
  const SamplerInfo* sampler = find_sampler(name);
  if (sampler == nullptr) {
    std::string known;
    for (const SamplerInfo& s : list_samplers()) known += (known.empty() ? "" : ", ") + s.name;
    throw Error(ErrorCode::InvalidArgument, "unknown sampler \"" + name + "\"; known: " + known);
  }
  if (!base_config.is_null() && !base_config.is_object())
    throw Error(ErrorCode::InvalidArgument, "scheduler config must be a JSON object");
  nlohmann::json config = base_config.is_object() ? base_config : nlohmann::json::object();
  for (const auto& [key, value] : sampler->overrides.items()) config[key] = value;
  return make_scheduler(config, sampler->class_name);
}

}  // namespace sdpp::schedulers
