#include "server/context.h"
#include "server/http_error.h"

namespace sdpp::server {

void require_ready(const ServerContext& ctx) {
  if (ctx.stopping.load() || !ctx.jobs.accepting())
    throw HttpError(503, "shutting_down", "the server is shutting down and takes no new jobs");
  if (!ctx.catalog.ready()) throw HttpError(503, "not_ready", "models are still loading; see GET /ready");
}

std::vector<std::shared_ptr<engine::Job>> submit_or_throw(ServerContext& ctx, std::vector<GenerationRequest> requests) {
  const size_t count = requests.size();
  engine::SubmitResult r = ctx.jobs.submit(std::move(requests));
  switch (r.error) {
    case engine::SubmitError::None: return std::move(r.jobs);
    case engine::SubmitError::QueueFull:
      throw HttpError(429, "queue_full",
                      "the queue is full (" + std::to_string(ctx.jobs.queue_depth()) + " of " +
                          std::to_string(ctx.jobs.queue_capacity()) + " waiting; this request needs " +
                          std::to_string(count) + "); retry later")
          .with_header("Retry-After", std::to_string(ctx.options.retry_after_s));
    case engine::SubmitError::ShuttingDown:
      throw HttpError(503, "shutting_down", "the server is shutting down and takes no new jobs");
  }
  throw HttpError(500, "internal", "unexpected submit outcome");
}

std::vector<engine::JobSnapshot> wait_for_jobs(ServerContext& ctx, const std::vector<std::shared_ptr<engine::Job>>& jobs) {
  using engine::Clock;
  const Clock::time_point deadline = Clock::now() + ctx.options.sync_timeout;
  std::vector<engine::JobSnapshot> out;
  bool cancel_rest = false;
  for (const auto& job : jobs) {
    if (cancel_rest) ctx.jobs.cancel(job->id());
    engine::JobSubscription sub(job);
    bool cancelled_here = false;
    while (!engine::is_terminal(job->state())) {
      if (!cancelled_here && (ctx.stopping.load() || Clock::now() >= deadline)) {
        ctx.jobs.cancel(job->id());
        cancelled_here = cancel_rest = true;
      }
      sub.next(Clock::now() + std::chrono::milliseconds(250));
    }
    out.push_back(job->snapshot());
    if (out.back().state == engine::JobState::Cancelled) cancel_rest = true;
  }
  return out;
}

}  // namespace sdpp::server
