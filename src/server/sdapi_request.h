// AUTOMATIC1111 /sdapi/v1/txt2img and /img2img bodies -> GenerationRequests. Field names and semantics follow
// A1111's API (modules/api/models.py): sampler_name (+ scheduler "Karras"), batch_size, n_iter (one job per
// iteration, seeds advancing by batch_size), denoising_strength, init_images, mask, inpainting_mask_invert,
// override_settings.sd_model_checkpoint / CLIP_stop_at_last_layers. Unknown fields are ignored, as A1111 does.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sdpp/engine.h"
#include "server/catalog.h"
#include "server/server_options.h"

namespace sdpp::server {

struct SdapiRequest {
  std::vector<GenerationRequest> jobs;  // n_iter jobs of batch_size images each
  nlohmann::json parameters;            // the request as run, in A1111 field names (the response's `parameters`)
};

SdapiRequest parse_sdapi_request(const nlohmann::json& body, bool img2img, const Catalog& catalog,
                                 const RequestLimits& limits, const std::string& default_model);

std::string sdapi_sampler_name(const std::string& sampler);  // canonical -> A1111 display name ("Euler a")

}  // namespace sdpp::server
