#include "server/sdapi_request.h"

#include "schedulers/scheduler.h"
#include "server/http_error.h"
#include "server/image_input.h"
#include "server/json_fields.h"
#include "server/request_validation.h"

namespace sdpp::server {

using nlohmann::json;

namespace {

// sampler_name may be a display name that already includes the schedule ("DPM++ 2M Karras") or a base name with
// A1111 1.9's separate `scheduler` ("DPM++ 2M" + "Karras"); "Automatic" means the sampler's own default.
std::string resolve_sampler(const std::string& sampler_name, const std::string& scheduler) {
  if (sampler_name.empty()) return {};
  const bool karras = scheduler == "karras" || scheduler == "Karras";
  if (karras)
    if (const schedulers::SamplerInfo* s = schedulers::find_sampler(sampler_name + " Karras")) return s->name;
  return sampler_name;  // complete_request resolves it or answers 400 naming sampler_name
}

}  // namespace

std::string sdapi_sampler_name(const std::string& sampler) {
  const schedulers::SamplerInfo* s = schedulers::find_sampler(sampler);
  return s && !s->aliases.empty() ? s->aliases.front() : sampler;
}

SdapiRequest parse_sdapi_request(const json& body, bool img2img, const Catalog& catalog, const RequestLimits& limits,
                                 const std::string& default_model) {
  JsonFields f(body);
  GenerationRequest r;
  r.prompt = f.string("prompt", limits.max_prompt_bytes).value_or("");
  r.negative_prompt = f.string("negative_prompt", limits.max_prompt_bytes).value_or("");
  std::string sampler_name = f.string("sampler_name", 64).value_or("");
  if (sampler_name.empty()) sampler_name = f.string("sampler_index", 64).value_or("");
  const std::string scheduler = f.string("scheduler", 64).value_or("");
  r.sampler = resolve_sampler(sampler_name, scheduler);
  r.steps = static_cast<int>(f.integer("steps", 1, limits.max_steps).value_or(0));
  r.cfg_scale = static_cast<float>(f.number("cfg_scale", 0.0, 30.0).value_or(-1.0));
  r.seed = f.seed("seed");
  r.width = static_cast<int>(f.integer("width", limits.min_side, limits.max_side).value_or(0));
  r.height = static_cast<int>(f.integer("height", limits.min_side, limits.max_side).value_or(0));
  r.batch = static_cast<int>(f.integer("batch_size", 1, limits.max_batch).value_or(1));
  const int n_iter = static_cast<int>(f.integer("n_iter", 1, limits.max_batch).value_or(1));
  r.model = default_model;
  if (body.contains("override_settings") && body["override_settings"].is_object()) {
    JsonFields overrides(body["override_settings"]);
    if (auto model = overrides.string("sd_model_checkpoint", 256)) r.model = *model;
    r.clip_skip = static_cast<int>(overrides.integer("CLIP_stop_at_last_layers", 1, 12).value_or(1));
  }
  if (img2img) {
    if (const auto strength = f.number("denoising_strength", 0.0, 1.0)) {
      if (*strength <= 0.0) throw bad_field("denoising_strength", "'denoising_strength' must be in (0, 1], got 0");
      r.strength = static_cast<float>(*strength);
    }
    const auto init_images = f.string_array("init_images");
    if (!init_images || init_images->empty())
      throw bad_field("init_images", "'init_images' must hold at least one base64 image", "missing_field");
    r.init_image = decode_image_field(init_images->front(), "init_images[0]", ImageRole::Rgb, limits);
    if (const auto mask = f.string("mask")) {
      r.mask = decode_image_field(*mask, "mask", ImageRole::Mask, limits);
      if (f.integer("inpainting_mask_invert", 0, 1).value_or(0) == 1)
        for (uint8_t& v : r.mask->pixels) v = static_cast<uint8_t>(255 - v);
    }
  }
  FieldNames names;
  names.sampler = "sampler_name";
  names.batch = "batch_size";
  names.init_image = "init_images";
  names.model = "override_settings.sd_model_checkpoint";
  if (n_iter > 1) {
    // The work limit covers the whole request, as it all runs for one client.
    RequestLimits whole = limits;
    whole.max_work = limits.max_work / uint64_t(n_iter);
    complete_request(r, catalog, whole, names);
  } else {
    complete_request(r, catalog, limits, names);
  }

  SdapiRequest out;
  for (int i = 0; i < n_iter; ++i) {
    GenerationRequest job = r;
    job.seed = *r.seed + uint64_t(i) * uint64_t(r.batch);  // A1111: consecutive seeds across the whole request
    out.jobs.push_back(std::move(job));
  }
  out.parameters = {{"prompt", r.prompt},
                    {"negative_prompt", r.negative_prompt},
                    {"seed", *r.seed},
                    {"sampler_name", r.sampler.empty() ? json(nullptr) : json(sdapi_sampler_name(r.sampler))},
                    {"steps", r.steps},
                    {"cfg_scale", r.cfg_scale},
                    {"width", r.width},
                    {"height", r.height},
                    {"batch_size", r.batch},
                    {"n_iter", n_iter},
                    {"override_settings", {{"sd_model_checkpoint", r.model}}}};
  if (img2img) {
    out.parameters["denoising_strength"] = r.strength;
    out.parameters["init_images"] = nullptr;  // not echoed back: they can be megabytes
    out.parameters["mask"] = nullptr;
  }
  return out;
}

}  // namespace sdpp::server
