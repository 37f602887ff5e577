// Checks a GenerationRequest against the model and the engine's limits, and fills in the per-family defaults.
// Every violation is Error(InvalidArgument) whose message names the field, the value and the limit, and whose
// field() is the request field (the server turns it into 400 {error: {code, message, field}}).
#pragma once
#include <cstdint>
#include <string>

#include "pipeline/components.h"
#include "sdpp/engine.h"

namespace sdpp {

struct RequestLimits {
  int min_size = 64, max_size = 2048;
  int max_steps = 150;
  int max_batch = 8;
  float max_cfg_scale = 30.0f;
};

struct ResolvedRequest {
  int width = 0, height = 0, steps = 0;
  float cfg_scale = 0;
  uint64_t seed = 0;
  std::string sampler_display_name;  // A1111 name for the infotext ("Euler a"), or the model scheduler's class
};

// `value` within [limits.min_size, limits.max_size] and a multiple of `multiple` (the VAE's scale factor), else
// Error(InvalidArgument) naming `field`. resolve_request checks width and height with it; so does `sdpp bench`.
void check_image_size(const std::string& field, int value, int multiple, const RequestLimits& limits = {});

ResolvedRequest resolve_request(const GenerationRequest& request, const ModelInfo& model, const Components& components,
                                const RequestLimits& limits = {});

}  // namespace sdpp
