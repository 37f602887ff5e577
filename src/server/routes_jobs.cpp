// The native job API: POST /v1/jobs, GET|DELETE /v1/jobs/{id}, GET /v1/jobs/{id}/events (SSE),
// GET /v1/jobs/{id}/images/{n}.png.
#include <charconv>

#include "server/context.h"
#include "server/http_error.h"
#include "server/job_json.h"
#include "server/json_fields.h"
#include "server/native_request.h"
#include "server/router.h"
#include "server/sse.h"

namespace sdpp::server {

namespace {

std::shared_ptr<engine::Job> find_job(ServerContext& ctx, const std::string& id) {
  std::shared_ptr<engine::Job> job = ctx.jobs.find(id);
  if (!job) throw HttpError(404, "job_not_found", "no job '" + id + "' (finished jobs are kept for a limited time)");
  return job;
}

uint64_t last_event_id(const httplib::Request& req) {
  const std::string v = req.get_header_value("Last-Event-ID");
  uint64_t id = 0;
  if (!v.empty()) std::from_chars(v.data(), v.data() + v.size(), id);
  return id;
}

}  // namespace

void register_job_routes(Router& router, ServerContext& ctx) {
  router.post("/v1/jobs", [&ctx](const httplib::Request& req, httplib::Response& res) {
    require_ready(ctx);
    GenerationRequest request = parse_native_request(parse_json_body(req.body), ctx.catalog, ctx.options.limits);
    std::vector<GenerationRequest> one;
    one.push_back(std::move(request));
    const std::shared_ptr<engine::Job> job = submit_or_throw(ctx, std::move(one)).front();
    const engine::JobSnapshot s = job->snapshot();
    res.set_header("Location", job_path(s.id));
    send_json(res, 202,
              {{"id", s.id},
               {"status", engine::job_state_name(s.state)},
               {"queue_position", s.queue_position > 0 ? nlohmann::json(s.queue_position) : nlohmann::json(nullptr)},
               {"seed", *s.request->seed},
               {"params", request_json(*s.request, s.mode)},
               {"links", job_links(s.id)}});
  });

  router.get(R"(/v1/jobs/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    send_json(res, 200, job_json(find_job(ctx, req.matches[1])->snapshot()));
  });

  router.del(R"(/v1/jobs/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    switch (ctx.jobs.cancel(id)) {
      case engine::CancelOutcome::NotFound: find_job(ctx, id); break;  // throws the 404
      case engine::CancelOutcome::AlreadyFinished:
        throw HttpError(409, "job_finished", "job '" + id + "' has already finished (" +
                                                 engine::job_state_name(find_job(ctx, id)->state()) + ")");
      case engine::CancelOutcome::Cancelled:
      case engine::CancelOutcome::Requested: break;
    }
    const engine::JobSnapshot s = find_job(ctx, id)->snapshot();
    send_json(res, 200, {{"id", id}, {"status", engine::job_state_name(s.state)}, {"cancel_requested", true}});
  });

  router.get(R"(/v1/jobs/([^/]+)/events)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    stream_job_events(ctx, find_job(ctx, req.matches[1]), last_event_id(req), res);
  });

  router.get(R"(/v1/jobs/([^/]+)/images/(\d{1,4})\.png)", [&ctx](const httplib::Request& req,
                                                                   httplib::Response& res) {
    const engine::JobSnapshot s = find_job(ctx, req.matches[1])->snapshot();
    const size_t index = std::stoul(req.matches[2]);
    if (!s.result)
      throw HttpError(404, "image_not_ready", "job '" + s.id + "' has no images (status " +
                                                  engine::job_state_name(s.state) + ")");
    if (index >= s.result->png.size())
      throw HttpError(404, "image_not_found", "job '" + s.id + "' has " + std::to_string(s.result->png.size()) +
                                                  " image(s); index " + std::to_string(index) + " does not exist");
    res.set_header("Cache-Control", "private, max-age=3600, immutable");
    res.set_content(s.result->png[index], "image/png");
  });
}

}  // namespace sdpp::server
