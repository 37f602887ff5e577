#include "pipeline/validation.h"

#include <cmath>
#include <random>

#include "core/error.h"
#include "schedulers/scheduler.h"

namespace sdpp {
namespace {

[[noreturn]] void invalid(const std::string& field, const std::string& message) {
  throw Error(ErrorCode::InvalidArgument, field + ": " + message, field);
}

// A1111 seeds are 32-bit; a random one is drawn when the request has none, and always reported back.
uint64_t random_seed() {
  std::random_device device;
  return (uint64_t(device()) << 32 | device()) % 4294967296ull;
}

}  // namespace

void check_image_size(const std::string& field, int value, int multiple, const RequestLimits& limits) {
  if (value < limits.min_size || value > limits.max_size)
    invalid(field, "must be between " + std::to_string(limits.min_size) + " and " + std::to_string(limits.max_size) +
                       ", got " + std::to_string(value));
  if (value % multiple != 0)
    invalid(field, "must be a multiple of " + std::to_string(multiple) + ", got " + std::to_string(value));
}

ResolvedRequest resolve_request(const GenerationRequest& request, const ModelInfo& model, const Components& c,
                                const RequestLimits& limits) {
  ResolvedRequest r;
  r.width = request.width > 0 ? request.width : model.default_width;
  r.height = request.height > 0 ? request.height : model.default_height;
  if (request.width < 0) invalid("width", "must be positive, got " + std::to_string(request.width));
  if (request.height < 0) invalid("height", "must be positive, got " + std::to_string(request.height));
  check_image_size("width", r.width, c.vae_scale_factor(), limits);
  check_image_size("height", r.height, c.vae_scale_factor(), limits);
  r.steps = request.steps != 0 ? request.steps : model.default_steps;
  if (r.steps < 1 || r.steps > limits.max_steps)
    invalid("steps", "must be between 1 and " + std::to_string(limits.max_steps) + ", got " + std::to_string(r.steps));
  r.cfg_scale = request.cfg_scale >= 0 ? request.cfg_scale : model.default_cfg_scale;
  if (!(request.cfg_scale < 0 || request.cfg_scale <= limits.max_cfg_scale) || !std::isfinite(r.cfg_scale))
    invalid("cfg_scale", "must be between 0 and " + std::to_string(int(limits.max_cfg_scale)) + ", got " +
                             std::to_string(request.cfg_scale));
  if (request.batch < 1 || request.batch > limits.max_batch)
    invalid("batch", "must be between 1 and " + std::to_string(limits.max_batch) + ", got " + std::to_string(request.batch));
  if (request.init_image && !(request.strength >= 0.0f && request.strength <= 1.0f))
    invalid("strength", "must be between 0 and 1, got " + std::to_string(request.strength));
  if (request.preview_every < 0) invalid("preview_every", "must be >= 0, got " + std::to_string(request.preview_every));
  const int layers = c.text_encoder->num_layers();
  if (request.clip_skip < 1 || request.clip_skip >= layers)
    invalid("clip_skip", "must be between 1 and " + std::to_string(layers - 1) + ", got " + std::to_string(request.clip_skip));
  if (request.mask && !request.init_image) invalid("mask", "a mask needs an init_image to repaint");
  if (request.init_image && (request.init_image->width <= 0 || request.init_image->height <= 0))
    invalid("init_image", "is empty");
  if (request.mask && (request.mask->width != request.init_image->width || request.mask->height != request.init_image->height))
    invalid("mask", "is " + std::to_string(request.mask->width) + "x" + std::to_string(request.mask->height) +
                        " but init_image is " + std::to_string(request.init_image->width) + "x" +
                        std::to_string(request.init_image->height));
  if (c.is_inpainting() && !(request.init_image && request.mask))
    invalid("mask", "model '" + model.name + "' is an inpainting model: it needs init_image and mask");
  if (request.sampler.empty()) {
    const std::string cls = c.scheduler_config.value("_class_name", "");
    r.sampler_display_name = cls;
    for (const auto& s : schedulers::list_samplers())
      if (s.class_name == cls && s.overrides.empty() && !s.aliases.empty()) r.sampler_display_name = s.aliases.front();
  } else {
    const schedulers::SamplerInfo* sampler = schedulers::find_sampler(request.sampler);
    if (!sampler) {
      std::string known;
      for (const auto& s : schedulers::list_samplers()) known += (known.empty() ? "" : ", ") + s.name;
      invalid("sampler", "unknown sampler '" + request.sampler + "' (known: " + known + ")");
    }
    r.sampler_display_name = sampler->aliases.empty() ? sampler->name : sampler->aliases.front();
  }
  r.seed = request.seed ? *request.seed : random_seed();
  return r;
}

}  // namespace sdpp
