// What every route handler needs: the options, the job service it submits to, the catalog it validates against.
#pragma once
#include <atomic>
#include <chrono>

#include "engine/job_service.h"
#include "server/catalog.h"
#include "server/server_options.h"

namespace sdpp::server {

class Router;

struct ServerContext {
  const ServerOptions& options;
  engine::JobService& jobs;
  const Catalog& catalog;
  std::atomic<bool> stopping{false};  // set at shutdown: streams end, synchronous waits give up
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// Submits jobs for a request: 503 until models are loaded or while shutting down, 429 + Retry-After when the
// queue cannot take them all.
std::vector<std::shared_ptr<engine::Job>> submit_or_throw(ServerContext& ctx, std::vector<GenerationRequest> requests);
void require_ready(const ServerContext& ctx);  // 503 `not_ready` before any model is loaded

// Waits for jobs of a synchronous call (/sdapi, OpenAI) to end; on timeout or shutdown cancels what is left.
// When one job of the group is cancelled (interrupt), the rest are cancelled too, as AUTOMATIC1111 does.
std::vector<engine::JobSnapshot> wait_for_jobs(ServerContext& ctx, const std::vector<std::shared_ptr<engine::Job>>& jobs);

void register_job_routes(Router& router, ServerContext& ctx);
void register_info_routes(Router& router, ServerContext& ctx);
void register_sdapi_routes(Router& router, ServerContext& ctx);
void register_openai_routes(Router& router, ServerContext& ctx);
void register_static_routes(Router& router);

}  // namespace sdpp::server
