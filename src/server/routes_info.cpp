// GET /v1/models, /v1/samplers, /health, /ready, /metrics.
#include "schedulers/scheduler.h"
#include "server/context.h"
#include "server/http_error.h"
#include "server/metrics_text.h"
#include "server/router.h"

namespace sdpp::server {

using nlohmann::json;

namespace {

json model_json(const ModelInfo& m) {
  return {{"name", m.name},
          {"family", m.family},
          {"path", m.path},
          {"inpainting", m.inpainting},
          {"defaults",
           {{"width", m.default_width},
            {"height", m.default_height},
            {"steps", m.default_steps},
            {"cfg_scale", m.default_cfg_scale}}}};
}

}  // namespace

void register_info_routes(Router& router, ServerContext& ctx) {
  router.get("/v1/models", [&ctx](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const ModelInfo& m : ctx.catalog.models()) data.push_back(model_json(m));
    send_json(res, 200, {{"data", data}});
  });

  router.get("/v1/samplers", [&ctx](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const std::string& name : ctx.catalog.samplers()) {
      json aliases = json::array();
      if (const schedulers::SamplerInfo* info = schedulers::find_sampler(name)) aliases = info->aliases;
      data.push_back({{"name", name}, {"aliases", aliases}});
    }
    send_json(res, 200, {{"data", data}});
  });

  router.get("/health", [&ctx](const httplib::Request&, httplib::Response& res) {
    const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
    send_json(res, 200,
              {{"status", "ok"},
               {"uptime_s", uptime},
               {"queue_depth", ctx.jobs.queue_depth()},
               {"queue_capacity", ctx.jobs.queue_capacity()},
               {"running", ctx.jobs.running().size()},
               {"workers", ctx.jobs.worker_count()}});
  });

  router.get("/ready", [&ctx](const httplib::Request&, httplib::Response& res) {
    json models = json::array();
    for (const ModelInfo& m : ctx.catalog.models()) models.push_back(m.name);
    const bool ready = ctx.catalog.ready() && ctx.jobs.accepting() && !ctx.stopping.load();
    const char* reason = ready ? nullptr : (ctx.catalog.ready() ? "shutting_down" : "loading_models");
    send_json(res, ready ? 200 : 503,
              {{"ready", ready}, {"models", models}, {"reason", reason ? json(reason) : json(nullptr)}});
  });

  router.get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus_metrics(ctx), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace sdpp::server
