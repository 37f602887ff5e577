// POST /v1/jobs body -> GenerationRequest (every field in docs/API.md); strict: unknown fields are rejected.
#pragma once
#include <nlohmann/json.hpp>

#include "sdpp/engine.h"
#include "server/catalog.h"
#include "server/server_options.h"

namespace sdpp::server {

GenerationRequest parse_native_request(const nlohmann::json& body, const Catalog& catalog,
                                       const RequestLimits& limits);

}  // namespace sdpp::server
