// The checks every API shares once its own field names have been read: model and sampler exist, sizes are
// multiples of 8 within the limits, the work fits the per-request budget, the mask matches the image, and the
// model's defaults fill what the client left out (so the job reports the values it really uses).
#pragma once
#include <string>

#include "sdpp/engine.h"
#include "server/catalog.h"
#include "server/server_options.h"

namespace sdpp::server {

// How the calling API names each field, so an error points at the key the client sent.
struct FieldNames {
  std::string model = "model", sampler = "sampler", width = "width", height = "height", steps = "steps",
              batch = "batch", init_image = "init_image", mask = "mask";
};

void complete_request(GenerationRequest& request, const Catalog& catalog, const RequestLimits& limits,
                      const FieldNames& names = {});

uint64_t random_seed();  // 32-bit range: what AUTOMATIC1111 and most clients display and accept back

}  // namespace sdpp::server
