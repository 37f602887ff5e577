#include "server/native_request.h"

#include <cstdint>

#include "server/http_error.h"
#include "server/image_input.h"
#include "server/json_fields.h"
#include "server/request_validation.h"

namespace sdpp::server {

GenerationRequest parse_native_request(const nlohmann::json& body, const Catalog& catalog,
                                       const RequestLimits& limits) {
  JsonFields f(body);
  GenerationRequest r;
  const std::optional<std::string> prompt = f.string("prompt", limits.max_prompt_bytes);
  if (!prompt) throw bad_field("prompt", "'prompt' is required (a string)", "missing_field");
  r.prompt = *prompt;
  r.negative_prompt = f.string("negative_prompt", limits.max_prompt_bytes).value_or("");
  r.model = f.string("model", 256).value_or("");
  r.sampler = f.string("sampler", 64).value_or("");
  r.width = static_cast<int>(f.integer("width", limits.min_side, limits.max_side).value_or(0));
  r.height = static_cast<int>(f.integer("height", limits.min_side, limits.max_side).value_or(0));
  r.steps = static_cast<int>(f.integer("steps", 1, limits.max_steps).value_or(0));
  r.cfg_scale = static_cast<float>(f.number("cfg_scale", 0.0, 30.0).value_or(-1.0));
  r.seed = f.seed("seed");
  r.batch = static_cast<int>(f.integer("batch", 1, limits.max_batch).value_or(1));
  if (const auto strength = f.number("strength", 0.0, 1.0)) {
    if (*strength <= 0.0) throw bad_field("strength", "'strength' must be in (0, 1], got 0");
    r.strength = static_cast<float>(*strength);
  }
  r.preview_every = static_cast<int>(f.integer("preview_every", 0, limits.max_steps).value_or(r.preview_every));
  if (const auto method = f.string("preview_method", 16)) {
    if (*method != "approx" && *method != "taesd" && *method != "full")
      throw bad_field("preview_method", "'preview_method' must be one of approx, taesd, full; got '" + *method + "'");
    r.preview_method = *method;
  }
  r.clip_skip = static_cast<int>(f.integer("clip_skip", 1, 12).value_or(1));
  const std::optional<std::string> init_image = f.string("init_image", SIZE_MAX);
  const std::optional<std::string> mask = f.string("mask", SIZE_MAX);
  const bool mask_invert = f.boolean("mask_invert").value_or(false);
  f.reject_unknown();  // before the costly part: decoding images
  if (init_image) r.init_image = decode_image_field(*init_image, "init_image", ImageRole::Rgb, limits);
  if (mask) r.mask = decode_image_field(*mask, "mask", ImageRole::Mask, limits);
  if (mask_invert && r.mask)
    for (uint8_t& v : r.mask->pixels) v = static_cast<uint8_t>(255 - v);
  complete_request(r, catalog, limits);
  return r;
}

}  // namespace sdpp::server
