// Server-Sent Events for one job: GET /v1/jobs/{id}/events. Each event is `id: <seq>`, `event: <name>`,
// `data: <json>`; the stream first replays what the job kept (so a late subscriber starts from the current
// state), then follows live, sends `: keep-alive` comments when idle, and ends after the terminal event.
// `Last-Event-ID` resumes after that event.
#pragma once
#include <memory>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "engine/job.h"
#include "server/context.h"

namespace sdpp::server {

std::string sse_message(const std::string& event, uint64_t id, const nlohmann::json& data);

void stream_job_events(ServerContext& ctx, std::shared_ptr<engine::Job> job, uint64_t after, httplib::Response& res);

}  // namespace sdpp::server
