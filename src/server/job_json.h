// The JSON shapes of the native job API (docs/API.md): the job document of GET /v1/jobs/{id} and the `data` of
// each SSE event. Images are referenced by URL; previews travel inline as PNG data URIs.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "engine/job.h"

namespace sdpp::server {

std::string job_path(const std::string& id);                  // /v1/jobs/{id}
std::string image_path(const std::string& id, size_t index);  // /v1/jobs/{id}/images/{index}.png
std::string png_data_uri(const std::string& png);

nlohmann::json request_json(const GenerationRequest& request, GenerationMode mode);  // the parameters a job runs with
nlohmann::json job_links(const std::string& id);
nlohmann::json job_json(const engine::JobSnapshot& job);
nlohmann::json event_json(const std::string& job_id, const engine::JobEvent& event);
std::string iso8601(engine::WallClock::time_point t);  // "" for the epoch (not reached)

}  // namespace sdpp::server
