#include "server/request_validation.h"

#include <algorithm>
#include <mutex>
#include <random>

#include "schedulers/scheduler.h"
#include "server/http_error.h"

namespace sdpp::server {

namespace {

std::string joined_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void check_side(int value, const std::string& field, const RequestLimits& limits) {
  if (value < limits.min_side || value > limits.max_side)
    throw bad_field(field, "'" + field + "' must be in [" + std::to_string(limits.min_side) + ", " +
                               std::to_string(limits.max_side) + "], got " + std::to_string(value));
  if (value % 8 != 0)
    throw bad_field(field, "'" + field + "' must be a multiple of 8, got " + std::to_string(value));
}

// An img2img request without a size takes the image's, rounded down to the model's granularity of 8.
int side_from_image(int image_side, const RequestLimits& limits) {
  return std::clamp(image_side / 8 * 8, limits.min_side, limits.max_side);
}

}  // namespace

uint64_t random_seed() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  return rng() & 0xFFFFFFFFull;
}

void complete_request(GenerationRequest& r, const Catalog& catalog, const RequestLimits& limits,
                      const FieldNames& names) {
  const std::optional<ModelInfo> model = catalog.find_model(r.model);
  if (!model) {
    std::vector<std::string> loaded;
    for (const ModelInfo& m : catalog.models()) loaded.push_back(m.name);
    throw HttpError(400, "unknown_model", "unknown model '" + r.model + "'; loaded: " + joined_names(loaded),
                    names.model);
  }
  r.model = model->name;
  if (!r.sampler.empty()) {
    // Names or AUTOMATIC1111 display names ("DPM++ 2M Karras") both resolve to the canonical name.
    const schedulers::SamplerInfo* sampler = schedulers::find_sampler(r.sampler);
    if (!sampler || !catalog.has_sampler(sampler->name))
      throw HttpError(400, "unknown_sampler",
                      "unknown sampler '" + r.sampler + "'; available: " + joined_names(catalog.samplers()),
                      names.sampler);
    r.sampler = sampler->name;
  }

  if (r.width == 0) r.width = r.init_image ? side_from_image(r.init_image->width, limits) : model->default_width;
  if (r.height == 0) r.height = r.init_image ? side_from_image(r.init_image->height, limits) : model->default_height;
  check_side(r.width, names.width, limits);
  check_side(r.height, names.height, limits);
  if (r.steps == 0) r.steps = model->default_steps;
  if (r.cfg_scale < 0) r.cfg_scale = model->default_cfg_scale;

  const uint64_t work = uint64_t(r.width) * uint64_t(r.height) * uint64_t(r.batch) * uint64_t(r.steps);
  if (work > limits.max_work)
    throw HttpError(400, "limit_exceeded",
                    "width x height x batch x steps = " + std::to_string(work) + " exceeds the per-request limit " +
                        std::to_string(limits.max_work) + "; lower the size, " + names.batch + " or " + names.steps,
                    names.steps);

  if (r.mask && !r.init_image)
    throw bad_field(names.mask, "'" + names.mask + "' needs '" + names.init_image + "' (inpainting repaints an image)");
  if (r.mask && (r.mask->width != r.init_image->width || r.mask->height != r.init_image->height))
    throw bad_field(names.mask, "'" + names.mask + "' is " + std::to_string(r.mask->width) + "x" +
                                    std::to_string(r.mask->height) + " but '" + names.init_image + "' is " +
                                    std::to_string(r.init_image->width) + "x" + std::to_string(r.init_image->height));
  if (!r.seed) r.seed = random_seed();
}

}  // namespace sdpp::server
